r"""Data files of the ``cvxlift`` command: read ``X``/``y`` tables, write predictions as CSV.

Readers (:func:`read_xy`) take three formats, recognised by content first (zip and
``.npy`` signatures) and by suffix for text:

- ``.npz``: arrays ``X`` (rows are samples) and ``y`` (optional where ``y`` is optional);
- ``.npy``: one 2-D numeric array; its last column is ``y`` where a target is read;
- ``.csv``, ``.tsv``, ``.txt``: a delimited text table (``,``, ``;``, tab or ``|``,
  detected or given), with or without a header row; the last column is ``y`` where a target
  is read.

Binary arrays are read with their ``.npy`` headers checked against the bytes the file holds
**before** anything is allocated (:func:`read_npy_header`), pickled arrays are never loaded,
and text cells are read as numbers only when they are plainly numbers (``1``, ``-2.5``,
``3e-4``, ``nan``, ``inf``; not ``1_000``, ``1,5`` or ``=1+2``).

The writer (:func:`write_predictions`) uses the :mod:`csv` module (quoting where needed)
and neutralises spreadsheet formulas (:func:`spreadsheet_cell`).
"""

import csv
import io
import math
import re
import zipfile
from typing import NamedTuple

import numpy as np

from .exceptions import ValidationError
from .safeio import open_regular, show_path

__all__ = [
    "FORMULA_TRIGGERS",
    "NpyHeader",
    "check_zip_members",
    "is_number",
    "read_npy_data",
    "read_npy_header",
    "read_xy",
    "spreadsheet_cell",
    "write_predictions",
]

#: Suffixes read as delimited text.
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
#: Delimiters tried, in order of preference, when none is given.
DELIMITERS = (",", ";", "\t", "|")
#: First characters that make a spreadsheet read a cell as a formula (OWASP's list).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)$", re.IGNORECASE)
_DECIMAL_COMMA = re.compile(r"^[+-]?[0-9]+,[0-9]+$")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_MAGIC = b"\x93NUMPY"
_DEFLATE_MAX_RATIO = 1032  # deflate cannot expand a stream by more than this factor
_SAMPLE_ROWS = 50


# ---------------------------------------------------------------------- .npy / .npz, headers first
class NpyHeader(NamedTuple):
    """A checked ``.npy`` header: ``dtype``, ``shape``, ``fortran`` order and the data ``offset``."""

    dtype: np.dtype
    shape: tuple
    fortran: bool
    offset: int

    @property
    def nbytes(self):
        """Bytes of data the header announces."""
        return math.prod(self.shape) * self.dtype.itemsize


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_READ_ERRORS = (
    zipfile.BadZipFile,
    EOFError,
    OSError,
    ValueError,
    SyntaxError,
    TypeError,
    KeyError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
)


def read_npy_header(fh, size, label="array", error=ValidationError):
    r"""Read and check the header of the ``.npy`` data starting at ``fh``'s position.

    Parameters
    ----------
    fh : binary file object
        Positioned at the ``.npy`` magic string.
    size : int
        Total bytes of the ``.npy`` data (header and array) in the file.
    label : str
        Name of the array, for the messages.
    error : callable
        Makes the exception to raise from a message (e.g. an exception class).

    Returns
    -------
    NpyHeader
        The header; ``fh`` is left at the start of the array data. Refused: other ``.npy``
        versions, object (pickled), structured or empty-item dtypes, and a shape whose
        :math:`\prod_i n_i \cdot \text{itemsize}` differs from the ``size - offset`` bytes the
        file holds (so nothing larger than the file is ever allocated).
    """
    reader = None
    try:
        version = np.lib.format.read_magic(fh)
        reader = _HEADER_READERS.get(version)
        if reader is not None:
            try:
                shape, fortran, dtype = reader(fh, max_header_size=10000)
            except TypeError:  # numpy < 1.24 has no max_header_size (the header is bounded by the file)
                shape, fortran, dtype = reader(fh)
            offset = fh.tell()
    except _READ_ERRORS as exc:
        raise error(
            f"truncated or corrupted data while reading the header of {label} ({type(exc).__name__}: {exc})"
        ) from exc
    if reader is None:
        raise error(f"{label}: unsupported .npy format version {version}")
    if dtype.hasobject:
        raise error(f"{label} is an object (pickled) array; refused, cvxlift never unpickles")
    if dtype.fields is not None or dtype.subdtype is not None or dtype.itemsize == 0:
        raise error(f"{label} has a structured dtype {dtype}; expected plain numbers or strings")
    header = NpyHeader(dtype, tuple(int(s) for s in shape), bool(fortran), int(offset))
    if size != offset + header.nbytes:
        raise error(
            f"{label}: its header claims shape {header.shape} of {dtype} ({header.nbytes} bytes) but the "
            f"file holds {max(size - offset, 0)} bytes of data (the file was edited or corrupted)"
        )
    return header


def read_npy_data(fh, header, label="array", error=ValidationError):
    """The array announced by ``header`` (from :func:`read_npy_header`), read from ``fh``.

    Parameters
    ----------
    fh : binary file object
        Positioned at the start of the array data.
    header : NpyHeader
        The checked header.
    label : str
        Name of the array, for the messages.
    error : callable
        Makes the exception to raise from a message.

    Returns
    -------
    numpy.ndarray
        A writable array of ``header.shape`` and ``header.dtype`` (``header.nbytes`` bytes,
        allocated only now). Reading continues to the end of the stream, so a zip member's
        CRC is checked.
    """
    buf = bytearray(header.nbytes)
    try:
        view, got = memoryview(buf), 0
        while got < len(buf):
            n = fh.readinto(view[got:])
            if not n:
                break
            got += n
        complete = got == len(buf) and not fh.read(1)  # reading to the end checks a zip member's CRC
    except _READ_ERRORS as exc:
        raise error(f"truncated or corrupted data while reading {label} ({type(exc).__name__}: {exc})") from exc
    if not complete:
        raise error(f"truncated or corrupted data while reading {label}")
    a = np.frombuffer(buf, dtype=header.dtype)
    return a.reshape(header.shape[::-1]).T if header.fortran else a.reshape(header.shape)


def check_zip_members(zf, disk_size, error=ValidationError):
    """The members of ``zf``, each checked to be a plain member the file can hold.

    Parameters
    ----------
    zf : zipfile.ZipFile
        An open archive.
    disk_size : int
        Size of the archive file in bytes.
    error : callable
        Makes the exception to raise from a message.

    Returns
    -------
    dict of str to zipfile.ZipInfo
        Member name -> info. Refused: a name given twice, encrypted members, compressions
        other than stored and deflated (what :func:`numpy.savez` and
        :func:`numpy.savez_compressed` write), and declared sizes the file cannot produce
        (more compressed bytes than the file has, or more than deflate's maximum expansion).
    """
    members = {}
    for info in zf.infolist():
        name = info.filename
        if name in members:
            raise error(f"the archive holds the entry {name!r} twice")
        if info.flag_bits & 0x1:
            raise error(f"entry {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise error(f"entry {name!r} uses an unsupported compression (numpy writes stored or deflated entries)")
        if info.compress_size > disk_size:
            raise error(
                f"truncated or corrupted archive: entry {name!r} claims {info.compress_size} bytes, the file "
                f"has {disk_size}"
            )
        limit = (
            info.compress_size
            if info.compress_type == zipfile.ZIP_STORED
            else _DEFLATE_MAX_RATIO * info.compress_size + 1024
        )
        if info.file_size > limit:
            raise error(
                f"corrupted archive: entry {name!r} claims {info.file_size} bytes from {info.compress_size} "
                "stored bytes, more than its compression can produce"
            )
        members[name] = info
    return members


# ---------------------------------------------------------------------- text cells
def is_number(text):
    """Whether the text cell ``text`` is plainly a number.

    Parameters
    ----------
    text : str
        A cell (surrounding spaces are ignored).

    Returns
    -------
    bool
        True for decimal numbers with an optional sign, fraction and exponent, and for
        ``nan``/``inf``/``infinity``; False for anything Python's ``float`` would read more
        liberally (``1_000``, non-ASCII digits) and for decimal commas.
    """
    return bool(_NUMBER.match(text.strip()))


def spreadsheet_cell(value):
    """``value`` as a CSV cell that a spreadsheet cannot execute.

    Parameters
    ----------
    value : object
        A prediction: a number (Python or numpy) or a label.

    Returns
    -------
    str
        Numbers are written as numbers (``repr`` of a float, so they read back exactly; ``str``
        of an integer or boolean) and never altered. A text cell that starts with one of
        :data:`FORMULA_TRIGGERS` (``=``, ``+``, ``-``, ``@``, tab, carriage return) and is not
        itself plainly a number gets a leading apostrophe (``'=1+2``), which spreadsheets show
        as text. The :mod:`csv` writer then quotes cells holding delimiters, quotes or newlines.
    """
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    text = str(value)
    if text.startswith(FORMULA_TRIGGERS) and not is_number(text):
        return "'" + text
    return text


def write_predictions(fh, preds):
    """Write predictions as CSV: a header, then one row per sample.

    Parameters
    ----------
    fh : text file object
        Open for writing (``newline=""`` recommended).
    preds : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Labels or values. The header is ``index,prediction`` (1-D) or
        ``index,output_0,...`` (2-D); every cell goes through :func:`spreadsheet_cell`.

    Returns
    -------
    int
        Number of rows written (header excluded).
    """
    preds = np.asarray(preds)
    writer = csv.writer(fh, lineterminator="\n")
    if preds.ndim == 1:
        writer.writerow(["index", "prediction"])
        writer.writerows([i, spreadsheet_cell(p)] for i, p in enumerate(preds.tolist()))
    else:
        writer.writerow(["index", *(f"output_{j}" for j in range(preds.shape[1]))])
        writer.writerows([i, *(spreadsheet_cell(v) for v in row)] for i, row in enumerate(preds.tolist()))
    return preds.shape[0]


# ---------------------------------------------------------------------- readers
def _fail(path, message):
    raise ValidationError(f"{show_path(str(path))}: {message}")


def _detect_delimiter(lines, path):
    """The delimiter giving every sampled row the same number (> 1) of fields, most numbers first."""
    best = None
    for rank, d in enumerate(DELIMITERS):
        try:
            rows = [r for r in csv.reader(lines, delimiter=d, strict=True) if r]
        except csv.Error:
            continue
        counts = {len(r) for r in rows}
        if len(counts) != 1 or counts.pop() < 2:
            continue
        score = sum(is_number(c) or bool(_DECIMAL_COMMA.match(c.strip())) for r in rows for c in r)
        if best is None or score > best[0]:
            best = (score, -rank, d)
    if best is not None:
        return best[2]
    if all(len(next(csv.reader([ln], delimiter=d), [""])) <= 1 for ln in lines for d in DELIMITERS):
        return ","  # one column
    _fail(
        path,
        "cannot detect the delimiter (rows have different numbers of fields for each of "
        f"{', '.join(repr(d) for d in DELIMITERS)}); pass --delimiter",
    )


def _has_header(rows):
    """The first row is a header when, in every column whose other (sampled) cells are all
    numbers (there must be one), its cell is not a number."""
    if len(rows) < 2:
        return not any(is_number(c) for c in rows[0])
    sample = rows[1 : _SAMPLE_ROWS + 1]
    numeric = [j for j in range(len(rows[0])) if all(is_number(r[j]) for r in sample)]
    return bool(numeric) and not any(is_number(rows[0][j]) for j in numeric)


def _read_text(fh, path, delimiter, header):
    raw = fh.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        _fail(path, f"not UTF-8 text ({exc.reason} at byte {exc.start}); expected a CSV table, a .npy or an .npz file")
    if "\x00" in text:
        _fail(path, "contains NUL bytes: not a text table")
    lines = text.splitlines()
    if delimiter is None:
        delimiter = _detect_delimiter([ln for ln in lines[: _SAMPLE_ROWS + 1] if ln.strip()], path)
    try:
        rows = [
            r
            for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
            if any(c.strip() for c in r)
        ]
    except csv.Error as exc:
        _fail(path, f"malformed CSV ({exc})")
    if not rows:
        _fail(path, "the table is empty")
    width = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width:
            _fail(path, f"row {i + 1} has {len(r)} fields, the first row has {width} (delimiter {delimiter!r})")
    has_header = _has_header(rows) if header == "auto" else header == "yes"
    names = [c.strip() for c in rows[0]] if has_header else None
    body = rows[1:] if has_header else rows
    if not body:
        _fail(path, "the table has a header but no data rows")
    return names, body, 1 + int(has_header)


def _numeric_column(cells, what, path, first_row, col_name):
    bad = next((i for i, c in enumerate(cells) if not is_number(c)), None)
    if bad is not None:
        cell = cells[bad].strip()
        hint = " (decimal commas are not read: use a decimal point)" if _DECIMAL_COMMA.match(cell) else ""
        shown = cell if len(cell) <= 40 else cell[:37] + "..."
        _fail(path, f"{what} must be numeric: row {first_row + bad}, column {col_name} holds {shown!r}{hint}")
    return np.array([float(c) for c in cells])


def _text_xy(fh, path, need_y, n_features, delimiter, header):
    names, body, first_row = _read_text(fh, path, delimiter, header)
    width = len(body[0])
    target = "last" if need_y or (n_features is not None and width == n_features + 1) else "none"
    if target == "last" and width < 2:
        _fail(path, f"the table has {width} column; expected the features X and a last column y")
    n_x = width - 1 if target == "last" else width

    def col_name(j):
        return f"{j + 1} ({names[j]!r})" if names else str(j + 1)

    X = np.empty((len(body), n_x))
    for j in range(n_x):
        X[:, j] = _numeric_column([r[j] for r in body], "X", path, first_row, col_name(j))
    if target != "last":
        return X, None
    cells = [r[-1].strip() for r in body]
    if all(is_number(c) for c in cells):
        y = np.array([float(c) for c in cells])
        if np.all(np.isfinite(y)) and np.all(y == np.round(y)) and np.all(np.abs(y) < 2**53):
            y = y.astype(np.int64)
    else:
        y = np.array(cells, dtype=str)
    return X, y


def _npy_xy(fh, path, size, target):
    error = lambda msg: ValidationError(f"{show_path(str(path))}: {msg}")  # noqa: E731
    header = read_npy_header(fh, size, "the array", error)
    if header.dtype.kind not in "biuf" or len(header.shape) != 2 or min(header.shape) < 1:
        _fail(
            path,
            f"a .npy data file must hold one non-empty 2-D numeric array (rows are samples; the last column "
            f"is y), got dtype {header.dtype} shape {header.shape}",
        )
    data = read_npy_data(fh, header, "the array", error).astype(np.float64)
    if target == "last":
        if data.shape[1] < 2:
            _fail(path, f"the array has {data.shape[1]} column; expected the features X and a last column y")
        return data[:, :-1], data[:, -1]
    return data, None


def _npz_xy(fh, path, size, need_y):
    error = lambda msg: ValidationError(f"{show_path(str(path))}: {msg}")  # noqa: E731
    try:
        zf = zipfile.ZipFile(fh)
    except _READ_ERRORS as exc:
        _fail(path, f"not a readable .npz archive of arrays ({type(exc).__name__}: {exc})")
    with zf:
        members = check_zip_members(zf, size, error)
        names = [n[:-4] for n in members if n.endswith(".npy")]
        if "X" not in names:
            _fail(path, f"has no array 'X' (found: {', '.join(names) or 'none'}); expected X (rows are samples) and y")
        if need_y and "y" not in names:
            _fail(path, f"has no array 'y' (found: {', '.join(names)})")
        arrays = {}
        for key in ("X", "y"):
            if key in names:
                info = members[key + ".npy"]
                try:
                    f = zf.open(info)
                except _READ_ERRORS as exc:
                    _fail(path, f"not a readable .npz archive of arrays ({type(exc).__name__}: {exc})")
                with f:
                    header = read_npy_header(f, info.file_size, key, error)
                    if header.dtype.kind not in "biufU":
                        _fail(path, f"{key} must be numeric, got dtype {header.dtype}")
                    arrays[key] = read_npy_data(f, header, key, error)
    X = arrays["X"]
    if X.dtype.kind not in "biuf":
        _fail(path, f"X must be numeric, got dtype {X.dtype}")
    return X, arrays.get("y")


def read_xy(path, need_y=True, n_features=None, delimiter=None, header="auto"):
    """``X`` and ``y`` from a data file (``.csv``/``.tsv``/``.txt``, ``.npy`` or ``.npz``).

    Parameters
    ----------
    path : str or os.PathLike
        The data file (a regular file; a FIFO or device is refused without blocking).
    need_y : bool
        Whether the target is required. For ``.csv`` and ``.npy`` files the last column is
        ``y`` when ``need_y``; otherwise every column is ``X``, unless ``n_features`` is
        given and the file has ``n_features + 1`` columns (then the last one is ``y``, so
        the training file itself can be passed to ``predict``).
    n_features : int, optional
        Number of features the model takes (see ``need_y``).
    delimiter : str, optional
        Delimiter of a text table; detected when None (``,``, ``;``, tab or ``|``: the one that
        splits every sampled row into the same number of fields, preferring the one that gives
        most numbers).
    header : {"auto", "yes", "no"}
        Whether a text table's first row is a header. ``"auto"``: it is when, in every column
        whose other cells are all numbers, its cell is not a number.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        float64, finite, non-empty.
    y : ndarray of shape (n_samples,) or (n_samples, n_outputs), or None
        Numbers (int64 when a text column holds only integers) or text labels.

    Raises
    ------
    ValidationError
        With a one-line message starting with the path: a missing or unreadable file, an
        unsupported format, malformed CSV, a non-numeric cell in ``X`` (row and column
        named), a missing ``X`` or ``y``, wrong shapes, NaN or inf.
    """
    with open_regular(path, ValidationError, "read") as fh:
        p = str(path)
        head = fh.read(8)
        size = fh.seek(0, 2)
        fh.seek(0)
        suffix = p.lower().rsplit(".", 1)[-1] if "." in p.rsplit("/", 1)[-1] else ""
        if size == 0:
            _fail(p, "the file is empty")
        if head[:4] in _ZIP_MAGIC:
            X, y = _npz_xy(fh, p, size, need_y)
        elif head.startswith(_NPY_MAGIC):
            target = "last" if need_y else "auto"
            X, y = _npy_xy(fh, p, size, target)
            if target == "auto":
                X, y = _split_for(X, n_features)
        elif suffix == "npz":
            _fail(p, "not a readable .npz archive of arrays (no zip signature)")
        elif suffix == "npy":
            _fail(p, "not a .npy array file (no .npy signature)")
        elif "." + suffix in TEXT_SUFFIXES:
            if header not in ("auto", "yes", "no"):
                raise ValidationError(f"header must be 'auto', 'yes' or 'no', got {header!r}")
            X, y = _text_xy(fh, p, need_y, n_features, delimiter, header)
        else:
            _fail(
                p,
                "unsupported data file: expected a .csv (or .tsv, .txt) table, a .npy array or an .npz archive "
                "with arrays X and y",
            )
    return _checked_xy(p, X, y, need_y)


def _split_for(X, n_features):
    if n_features is not None and X.ndim == 2 and X.shape[1] == n_features + 1:
        return X[:, :-1], X[:, -1]
    return X, None


def _checked_xy(path, X, y, need_y):
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        _fail(path, f"X must be a 2-D array (rows are samples), got shape {X.shape}")
    X = X.astype(np.float64)
    if not np.all(np.isfinite(X)):
        _fail(path, "X has NaN or infinite entries")
    if y is None:
        if need_y:
            _fail(path, "has no target y")
        return X, None
    if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        _fail(path, f"y must have one entry (or row) per row of X ({X.shape[0]}), got shape {y.shape}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        _fail(path, "y has NaN or infinite entries")
    return X, y
