"""cvxlift.save / cvxlift.load: pickle-free round trips, corruption detection, atomic writes."""

import json
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

import cvxlift
from cvxlift import LiftedNetwork, NotFittedError, PersistenceError, persistence
from cvxlift.persistence import META_KEY, _array_digest, _meta_digest

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 30))
X_NEW = RNG.normal(size=(4, 7))
Y_REG = np.tanh(X[:3] + 0.5 * X[1:4])
Y_CLS = np.eye(3)[:, RNG.integers(0, 3, 30)]

CONFIGS = {
    "relu": dict(sizes=[4, 5, 3], activations="relu"),
    "leaky_relu": dict(sizes=[4, 5, 3], activations=[cvxlift.LeakyReLU(negative_slope=0.2), "identity"]),
    "clipped": dict(sizes=[4, 5, 3], activations=[cvxlift.Clipped(lower=-0.5, upper=1.5), "identity"]),
    "sigmoid": dict(sizes=[4, 5, 3], activations=["sigmoid", "identity"]),
    "maxpool": dict(sizes=[4, 3, 3], activations=[cvxlift.MaxPool(pool_size=2), "identity"]),
    "sin": dict(sizes=[4, 5, 3], activations=["sin", "identity"]),
    "simplex_cross_entropy": dict(sizes=[4, 5, 3], activations="relu", loss="cross_entropy"),
    "deep_mixed": dict(
        sizes=[4, 5, 4, 3],
        activations=["relu", cvxlift.LeakyReLU(0.2), "identity"],
        lam=[1.0, 0.5, 2.0],
        rho=[1e-3, 2e-3, 3e-3],
        random_state=None,
    ),
}


# the maxpool W-step goes to CVXPY; on 20 columns its first solver succeeds (fast test)
COLUMNS = {"maxpool": 20}


def _data(name):
    m = COLUMNS.get(name, X.shape[1])
    Y = Y_CLS if CONFIGS[name].get("loss") == "cross_entropy" else Y_REG
    return X[:, :m], Y[:, :m]


def _fit(name):
    cfg = dict(CONFIGS[name])
    cfg.setdefault("random_state", 0)
    return LiftedNetwork(**cfg).fit(*_data(name), solver="fast", max_iter=2)


@pytest.fixture(scope="module")
def fitted():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = _fit(name)
        return cache[name]

    return get


@pytest.fixture(scope="module")
def saved_relu(fitted, tmp_path_factory):
    """A valid model file (bytes) and the model it holds."""
    path = cvxlift.save(fitted("relu"), tmp_path_factory.mktemp("base") / "relu.npz")
    return path.read_bytes(), fitted("relu")


# ---------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_round_trip_is_bit_exact(name, fitted, tmp_path):
    net = fitted(name)
    path = cvxlift.save(net, tmp_path / "model.npz")
    new = cvxlift.load(path)
    assert type(new) is LiftedNetwork
    assert new.sizes == net.sizes
    assert new.activations_ == net.activations_
    assert [a.get_params() for a in new.activations_] == [a.get_params() for a in net.activations_]
    assert new.forms_ == net.forms_ and new.loss_.name == net.loss_.name
    assert np.array_equal(new.lam_, net.lam_) and np.array_equal(new.rho_, net.rho_)
    assert new.random_state == net.random_state
    for a, b in zip(net.weights_ + net.biases_ + net.states_, new.weights_ + new.biases_ + new.states_):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert new.history_ == net.history_ and np.array_equal(new.history_, net.history_)
    assert new.history_blocks_ == net.history_blocks_
    assert new.n_iter_ == net.n_iter_ == 2
    for data in (X, X_NEW):
        assert np.array_equal(new.predict(data), net.predict(data))
        for a, b in zip(net.forward(data), new.forward(data)):
            assert np.array_equal(a, b)
    assert new.objective(*_data(name)) == net.objective(*_data(name))


def test_lifted_prediction_and_warm_start_after_load(fitted, tmp_path):
    net = fitted("relu")
    new = cvxlift.load(cvxlift.save(net, tmp_path / "m.npz"))
    assert np.array_equal(
        new.predict(X_NEW, rule="lifted", solver="fast"), net.predict(X_NEW, rule="lifted", solver="fast")
    )
    new.fit(X, Y_REG, solver="fast", max_iter=1, warm_start=True)  # states_ were restored
    assert new.history_[0] == net.history_[-1]


def test_file_layout_is_pickle_free(fitted, tmp_path):
    net = fitted("leaky_relu")
    path = cvxlift.save(net, tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as f:
        assert sorted(f.files) == sorted(
            [META_KEY] + [f"{p}_{l}" for p in ("weights", "biases", "states") for l in range(2)]
        )
        raw = f[META_KEY]
        assert raw.dtype == np.uint8 and raw.ndim == 1
        for k in f.files:
            assert not f[k].dtype.hasobject
    meta = json.loads(raw.tobytes().decode("utf-8"))
    assert meta["format"] == "cvxlift-model" and meta["format_version"] == persistence.FORMAT_VERSION
    assert meta["kind"] == "cvxlift.network.LiftedNetwork"
    assert meta["cvxlift_version"] == cvxlift.__version__ and meta["numpy_version"] == np.__version__
    desc = meta["model"]["network"]
    assert desc["sizes"] == [4, 5, 3]
    assert desc["activations"] == [
        {"name": "leaky_relu", "params": {"negative_slope": 0.2}},
        {"name": "identity", "params": {}},
    ]
    assert desc["forms"] == net.forms_ and desc["loss"] == "squared"
    assert desc["lam"] == list(net.lam_) and desc["rho"] == list(net.rho_) and desc["random_state"] == 0
    assert meta["model"]["fitted"]["n_iter"] == 2 and meta["model"]["fitted"]["history"] == net.history_
    assert set(meta["arrays"]) == set(f.files) - {META_KEY}
    assert all(len(e["sha256"]) == 64 for e in meta["arrays"].values())


def test_suffix_and_path_types(fitted, tmp_path):
    net = fitted("relu")
    written = cvxlift.save(net, str(tmp_path / "model"))  # like np.savez: ".npz" appended
    assert written == tmp_path / "model.npz" and written.is_file()
    assert not (tmp_path / "model").exists()
    for p in (str(tmp_path / "model"), tmp_path / "model", tmp_path / "model.npz", str(written)):
        assert np.array_equal(cvxlift.load(p).weights_[0], net.weights_[0])
    assert cvxlift.save(net, tmp_path / "again.npz") == tmp_path / "again.npz"
    assert sorted(os.listdir(tmp_path)) == ["again.npz", "model.npz"]  # no temp files left


def test_without_states(fitted, tmp_path):
    net = fitted("relu")
    new = cvxlift.load(cvxlift.save(net, tmp_path / "m.npz", include_states=False))
    assert getattr(new, "states_", None) is None
    assert np.array_equal(new.predict(X_NEW), net.predict(X_NEW))
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        assert not [k for k in f.files if k.startswith("states_")]


def test_init_only_network_round_trips(tmp_path):
    net = LiftedNetwork([3, 4, 2], "relu", random_state=1).init_weights()
    new = cvxlift.load(cvxlift.save(net, tmp_path / "m.npz"))
    assert np.array_equal(new.weights_[1], net.weights_[1])
    assert not hasattr(new, "history_")


# ---------------------------------------------------------------------------- what cannot be saved
def test_unfitted_model_is_refused(tmp_path):
    with pytest.raises(NotFittedError):
        cvxlift.save(LiftedNetwork([3, 4, 2]), tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())


def test_custom_atom_is_refused_naming_the_layer(tmp_path):
    soft = cvxlift.declare_divergence(
        "soft_threshold_persist",
        forward=lambda u: np.sign(u) * np.maximum(np.abs(u) - 1, 0),
        phi=lambda z: 0.5 * __import__("cvxpy").sum_squares(z),
        phi_star=lambda u: 0.5 * __import__("cvxpy").sum_squares(u),
    )
    net = LiftedNetwork([3, 4, 2], [soft, "identity"], random_state=0).init_weights()
    with pytest.raises(PersistenceError, match=r"layer 0 .*declare_divergence.*without code"):
        cvxlift.save(net, tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())


def test_unregistered_subclass_is_refused(tmp_path):
    class MyReLU(cvxlift.ReLU):  # inherits name "relu" but is not the registered class
        pass

    net = LiftedNetwork([3, 4, 2], ["identity", MyReLU()], random_state=0).init_weights()
    with pytest.raises(PersistenceError, match=r"layer 1 .*not a registered atom"):
        cvxlift.save(net, tmp_path / "m.npz")


def test_non_finite_weights_and_other_objects_are_refused(tmp_path):
    net = LiftedNetwork([3, 4, 2], "relu", random_state=0).init_weights()
    net.weights_[1][0, 0] = np.nan
    with pytest.raises(PersistenceError, match="weights_1 contains NaN"):
        cvxlift.save(net, tmp_path / "m.npz")
    with pytest.raises(PersistenceError, match="LiftedNetwork or a cvxlift estimator"):
        cvxlift.save({"weights": 1}, tmp_path / "m.npz")
    with pytest.raises(PersistenceError, match="directory"):
        cvxlift.save(LiftedNetwork([3, 4, 2]).init_weights(), tmp_path / "missing_dir" / "m.npz")
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------- the allow-list of kinds
def test_only_allow_listed_classes_are_saved(fitted, tmp_path):
    class MyNetwork(LiftedNetwork):  # a subclass needs its code to be rebuilt: refused
        pass

    net = MyNetwork([3, 4, 2], "relu", random_state=0).init_weights()
    with pytest.raises(PersistenceError, match="only accepts the model kinds"):
        cvxlift.save(net, tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())
    assert set(persistence.MODEL_KINDS) == {
        "cvxlift.network.LiftedNetwork",
        "cvxlift.estimators.LiftedMLPClassifier",
        "cvxlift.estimators.LiftedMLPRegressor",
    }


# ---------------------------------------------------------------------------- atomic writes
def test_failed_save_leaves_the_previous_file_intact(fitted, tmp_path, monkeypatch):
    path = cvxlift.save(fitted("relu"), tmp_path / "m.npz")
    before = path.read_bytes()

    def broken_savez(file, *args, **kwds):
        file.write(b"PK\x03\x04 half a zip")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(RuntimeError, match="disk on fire"):
        cvxlift.save(fitted("sigmoid"), path)

    def interrupted_savez(file, *args, **kwds):
        file.write(b"PK\x03\x04")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted_savez)
    with pytest.raises(KeyboardInterrupt):
        cvxlift.save(fitted("sigmoid"), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]  # the temporary files were removed
    assert np.array_equal(cvxlift.load(path).weights_[0], fitted("relu").weights_[0])


# ---------------------------------------------------------------------------- corruption
class _Evil:
    """Unpickling this creates the file ``target``: proof that code ran."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def _read(data, tmp_path):
    src = tmp_path / "src.npz"
    src.write_bytes(data)
    with np.load(src, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    return meta, arrays


def _write(path, meta, arrays, rehash=False, meta_array=None):
    """Write an archive; ``rehash`` recomputes every checksum (a careful hand edit)."""
    if rehash:
        meta["arrays"] = {
            k: {"dtype": a.dtype.str, "shape": list(a.shape), "sha256": _array_digest(a)} for k, a in arrays.items()
        }
        meta["meta_sha256"] = _meta_digest(meta)
    if meta_array is None:
        meta_array = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    np.savez(str(path), **{META_KEY: meta_array}, **arrays)
    return path


def _edit_meta(fn, rehash=False):
    def case(data, tmp_path):
        meta, arrays = _read(data, tmp_path)
        fn(meta)
        return _write(tmp_path / "edited.npz", meta, arrays, rehash=rehash)

    return case


def _edit_arrays(fn, rehash=False):
    def case(data, tmp_path):
        meta, arrays = _read(data, tmp_path)
        fn(arrays)
        return _write(tmp_path / "edited.npz", meta, arrays, rehash=rehash)

    return case


def _raw(fn):
    def case(data, tmp_path):
        p = tmp_path / "raw.npz"
        p.write_bytes(fn(data))
        return p

    return case


def _flip_inside(data, needle):
    i = data.find(needle) + len(needle) // 2
    assert i >= len(needle) // 2
    return data[:i] + bytes([data[i] ^ 0x5A]) + data[i + 1 :]


def _flip_weight_byte(data):
    with np.load(__import__("io").BytesIO(data), allow_pickle=False) as f:
        w = f["weights_0"]
    return _flip_inside(data, np.ascontiguousarray(w).tobytes()[:16])


def _set(d, keys, value):
    for k in keys[:-1]:
        d = d[k]
    d[keys[-1]] = value


def _object_meta(data, tmp_path):
    meta, arrays = _read(data, tmp_path)
    evil = np.array([_Evil(tmp_path / "PWNED")], dtype=object)
    np.savez(str(tmp_path / "evil.npz"), **{META_KEY: evil}, **arrays)
    return tmp_path / "evil.npz"


def _object_weights(data, tmp_path):
    meta, arrays = _read(data, tmp_path)
    arrays["weights_0"] = np.array([_Evil(tmp_path / "PWNED")], dtype=object)
    return _write(tmp_path / "evil.npz", meta, arrays)


def _pickle_file(data, tmp_path):
    p = tmp_path / "model.npz"
    p.write_bytes(pickle.dumps(_Evil(tmp_path / "PWNED")))
    return p


def _npy_file(data, tmp_path):
    np.save(tmp_path / "w.npy", np.ones(3))
    return tmp_path / "w.npy"


def _no_meta(data, tmp_path):
    _, arrays = _read(data, tmp_path)
    np.savez(str(tmp_path / "nometa.npz"), **arrays)
    return tmp_path / "nometa.npz"


def _empty(data, tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    return tmp_path / "empty.npz"


def _directory(data, tmp_path):
    (tmp_path / "adir.npz").mkdir()
    return tmp_path / "adir.npz"


def _missing(data, tmp_path):
    return tmp_path / "does_not_exist.npz"


def _meta_array(arr):
    def case(data, tmp_path):
        meta, arrays = _read(data, tmp_path)
        return _write(tmp_path / "m.npz", meta, arrays, meta_array=arr)

    return case


def _bad_json(data, tmp_path):
    meta, arrays = _read(data, tmp_path)
    text = json.dumps(meta)[:-40]
    return _write(tmp_path / "m.npz", meta, arrays, meta_array=np.frombuffer(text.encode(), dtype=np.uint8))


def _replace_weights(arrays, value):
    arrays["weights_0"] = value


CORRUPTIONS = {
    # truncated / damaged bytes
    "truncate_3_bytes": (_raw(lambda d: d[:3]), "no zip signature"),
    "truncate_10_bytes": (_raw(lambda d: d[:10]), "truncated or corrupted"),
    "truncate_quarter": (_raw(lambda d: d[: len(d) // 4]), "truncated or corrupted"),
    "truncate_half": (_raw(lambda d: d[: len(d) // 2]), "truncated or corrupted"),
    "truncate_last_byte": (_raw(lambda d: d[:-1]), "truncated or corrupted"),
    "truncate_central_directory": (_raw(lambda d: d[:-60]), "truncated or corrupted"),
    "flip_byte_in_weights": (_raw(_flip_weight_byte), "corrupted|checksum mismatch"),
    "flip_byte_in_meta_json": (_raw(lambda d: _flip_inside(d, b'"format_version"')), "corrupted|JSON|checksum"),
    # arrays rewritten in a valid archive
    "weights_value_changed": (
        _edit_arrays(lambda a: a["weights_0"].__setitem__((0, 0), 123.0)),
        r"checksum mismatch for array 'weights_0'",
    ),
    "weights_dtype_changed": (
        _edit_arrays(lambda a: _replace_weights(a, a["weights_0"].astype(np.float32))),
        r"checksum mismatch for array 'weights_0'",
    ),
    "weights_nan_rehashed": (
        _edit_arrays(lambda a: a["weights_0"].__setitem__((1, 1), np.nan), rehash=True),
        r"'weights_0' .*non-finite",
    ),
    "weights_float32_rehashed": (
        _edit_arrays(lambda a: _replace_weights(a, a["weights_0"].astype(np.float32)), rehash=True),
        r"'weights_0' must be float64",
    ),
    "weights_reshaped_rehashed": (
        _edit_arrays(lambda a: _replace_weights(a, np.zeros((5, 5))), rehash=True),
        r"'weights_0' has shape \(5, 5\), inconsistent with the network sizes",
    ),
    "states_columns_rehashed": (
        _edit_arrays(lambda a: a.__setitem__("states_1", a["states_1"][:, :-1]), rehash=True),
        "different numbers of columns",
    ),
    "array_missing": (_edit_arrays(lambda a: a.pop("states_1")), r"\['states_1'\] listed in the metadata are missing"),
    "array_added": (_edit_arrays(lambda a: a.__setitem__("extra", np.ones(2))), r"unexpected array\(s\) \['extra'\]"),
    "array_added_rehashed": (
        _edit_arrays(lambda a: a.__setitem__("extra", np.ones(2)), rehash=True),
        r"unexpected arrays \['extra'\]",
    ),
    "object_array_weights": (_object_weights, "object \\(pickled\\) array; refused"),
    # the JSON edited
    "size_changed": (
        _edit_meta(lambda m: _set(m, ["model", "network", "sizes", 1], 6)),
        r"'weights_0' has shape \(5, 4\), inconsistent with the network sizes \(expected \(6, 4\)\)",
    ),
    "atom_name_unknown": (
        _edit_meta(lambda m: _set(m, ["model", "network", "activations", 0, "name"], "no_such_atom")),
        r"layer 0: unknown atom name 'no_such_atom'",
    ),
    "atom_swapped_for_known_one": (
        _edit_meta(lambda m: _set(m, ["model", "network", "activations", 0, "name"], "identity")),
        "metadata checksum mismatch",
    ),
    "atom_params_invalid": (
        _edit_meta(lambda m: _set(m, ["model", "network", "activations", 0, "params"], {"bogus": 1})),
        r"atom 'relu' rejects params",
    ),
    "version_999": (_edit_meta(lambda m: _set(m, ["format_version"], 999)), r"format version 999 is newer"),
    "version_invalid": (_edit_meta(lambda m: _set(m, ["format_version"], "1")), "invalid format version"),
    "format_name": (_edit_meta(lambda m: _set(m, ["format"], "other-format")), "not a cvxlift model file"),
    "kind_unknown": (_edit_meta(lambda m: _set(m, ["kind"], "os.system")), r"unknown model kind 'os.system'"),
    "lam_changed": (_edit_meta(lambda m: _set(m, ["model", "network", "lam", 0], 2.0)), "metadata checksum mismatch"),
    "loss_unknown": (_edit_meta(lambda m: _set(m, ["model", "network", "loss"], "hinge")), "unknown loss 'hinge'"),
    "form_invalid": (_edit_meta(lambda m: _set(m, ["model", "network", "forms", 0], "magic")), "inconsistent"),
    "history_not_numbers": (
        _edit_meta(lambda m: _set(m, ["model", "fitted", "history"], ["x"])),
        "history must be a list of numbers",
    ),
    "network_entry_missing": (_edit_meta(lambda m: m["model"].pop("network")), "missing entry 'network'"),
    "bad_json": (_bad_json, "not valid UTF-8 JSON"),
    "json_not_object": (_meta_array(np.frombuffer(b"[1, 2]", dtype=np.uint8)), "must be a JSON object"),
    "meta_float_array": (_meta_array(np.zeros(3)), "must be a 1-D uint8 array"),
    "meta_object_array_pickled": (_object_meta, r"__meta__ is an object \(pickled\) array; refused"),
    # not model files at all
    "empty_file": (_empty, "the file is empty"),
    "directory": (_directory, "is a directory"),
    "missing_path": (_missing, "no such file"),
    "npz_without_meta": (_no_meta, "no __meta__ entry"),
    "single_npy": (_npy_file, "single .npy array"),
    "pickle_file": (_pickle_file, "no zip signature"),
    "text_file": (_raw(lambda d: b"hello, I am not a model\n"), "no zip signature"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupted_files_are_detected(case, saved_relu, tmp_path):
    data, _ = saved_relu
    make, pattern = CORRUPTIONS[case]
    work = tmp_path / "work"
    work.mkdir()
    path = make(data, work)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(PersistenceError, match=pattern) as info:
            cvxlift.load(path)
    msg = str(info.value)
    assert msg.startswith(f"cannot load {os.path.splitext(str(path))[0]}")  # names the path
    assert isinstance(info.value, cvxlift.CvxliftError)
    assert not (work / "PWNED").exists()  # nothing from the file was executed


def test_the_base_file_is_valid(saved_relu, tmp_path):
    data, net = saved_relu
    p = tmp_path / "ok.npz"
    p.write_bytes(data)
    assert np.array_equal(cvxlift.load(p).predict(X_NEW), net.predict(X_NEW))
    meta, arrays = _read(data, tmp_path)  # the test helpers' rewrite alone keeps a file valid
    assert np.array_equal(cvxlift.load(_write(tmp_path / "rewritten.npz", meta, arrays)).weights_[0], net.weights_[0])
