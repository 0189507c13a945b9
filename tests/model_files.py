"""Helpers of the persistence tests: take a model file apart and write an edited one.

``rewrite(src, dst, edit_meta=..., edit_arrays=...)`` plays a careful editor: it recomputes
every checksum after the edit, so only the validation of the description and of the array
headers can refuse the result. ``lying_header(...)`` writes an archive whose ``.npy`` header
for one array claims another shape than the data it holds.
"""

import io
import json
import zipfile

import numpy as np

from cvxlift.persistence import META_KEY, _array_digest, _meta_digest


def read_parts(path):
    """``(meta, arrays)`` of a model file (read with numpy, no validation)."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    return meta, arrays


def rehash(meta, arrays, shapes=None):
    """Recompute the checksum table (``shapes`` may record other shapes) and ``meta_sha256``."""
    shapes = shapes or {}
    meta["arrays"] = {
        k: {"dtype": a.dtype.str, "shape": list(shapes.get(k, a.shape)), "sha256": _array_digest(a)}
        for k, a in arrays.items()
    }
    meta["meta_sha256"] = _meta_digest(meta)
    return meta


def _meta_array(meta):
    return np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)


def rewrite(src, dst, edit_meta=None, edit_arrays=None, checksums=True):
    """Copy the model file ``src`` to ``dst`` after ``edit_meta(meta)`` / ``edit_arrays(arrays)``."""
    meta, arrays = read_parts(src)
    if edit_arrays is not None:
        edit_arrays(arrays)
    if edit_meta is not None:
        edit_meta(meta)
    if checksums:
        rehash(meta, arrays)
    np.savez(str(dst), **{META_KEY: _meta_array(meta)}, **arrays)
    return dst


def lying_header(src, dst, claims, rehash_table=True):
    """Copy ``src`` to ``dst`` with the ``.npy`` header of each ``claims`` entry (name -> shape) lying.

    The data bytes stay those of the real array; with ``rehash_table`` the checksum table
    records the claimed shapes too (an editor who made the description agree).
    """
    meta, arrays = read_parts(src)
    if rehash_table:
        rehash(meta, arrays, shapes=claims)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zf:
        for name, a in [(META_KEY, _meta_array(meta)), *arrays.items()]:
            buf = io.BytesIO()
            header = dict(np.lib.format.header_data_from_array_1_0(a), fortran_order=False)
            if name in claims:
                header["shape"] = tuple(claims[name])
            np.lib.format.write_array_header_1_0(buf, header)
            buf.write(np.ascontiguousarray(a).tobytes())
            zf.writestr(name + ".npy", buf.getvalue())
    return dst


def set_in(d, keys, value):
    """``d[keys[0]][keys[1]]... = value``."""
    for k in keys[:-1]:
        d = d[k]
    d[keys[-1]] = value
