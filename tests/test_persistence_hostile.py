"""cvxlift.save / load against a hostile user (issue 12, family 2).

``save`` writes only regular files it creates or replaces atomically (never through a link,
never onto a device, FIFO or directory); ``load`` validates every field of the description
and every array header before it allocates or builds anything. The one-line reproducers are
rows of ``docs/bad-input.md`` (``tests/test_bad_input.py``); this file checks what a row
cannot: that the link's target, the FIFO or the device is untouched, that legitimate files
(long names, linked directories, compressed or Fortran-ordered archives, every estimator
variant) still work, and that ``save`` refuses what ``load`` would refuse.
"""

import os
import stat
import threading
import warnings
import zipfile

import numpy as np
import pytest
from model_files import lying_header, read_parts, rehash, rewrite, set_in

import cvxlift
from cvxlift import LiftedNetwork, PersistenceError
from cvxlift.persistence import META_KEY

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 4))  # rows are samples (estimators)
Y = X[:, 0] > 0


@pytest.fixture(scope="module")
def net():
    return LiftedNetwork([4, 5, 3], "relu", random_state=0).fit(
        X[:30].T, np.tanh(X[:30, :3]).T, solver="fast", max_iter=2
    )


@pytest.fixture(scope="module")
def net_file(net, tmp_path_factory):
    return cvxlift.save(net, tmp_path_factory.mktemp("net") / "net.npz")


def _fit(est, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(*args)


@pytest.fixture(scope="module")
def clf_file(tmp_path_factory):
    clf = _fit(
        cvxlift.LiftedMLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0),
        X,
        np.array(["neg", "pos"])[Y.astype(int)],
    )
    return cvxlift.save(clf, tmp_path_factory.mktemp("clf") / "clf.npz"), clf


# ---------------------------------------------------------------------------- save: what it writes onto
def test_a_link_is_refused_and_its_target_untouched(net, tmp_path):
    real = tmp_path / "real.npz"
    real.write_bytes(b"precious")
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    with pytest.raises(PersistenceError, match=r"link\.npz: it is a symbolic link"):
        cvxlift.save(net, link)
    assert link.is_symlink() and real.read_bytes() == b"precious"
    dangling = tmp_path / "dangling.npz"
    dangling.symlink_to(tmp_path / "nowhere.npz")
    with pytest.raises(PersistenceError, match="symbolic link"):
        cvxlift.save(net, dangling)
    assert not (tmp_path / "nowhere.npz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling.npz", "link.npz", "real.npz"]  # no temp file


def test_a_fifo_or_device_is_never_replaced(net, tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    link = tmp_path / "to-pipe.npz"
    link.symlink_to(fifo)
    for target in (fifo, link):
        with pytest.raises(PersistenceError, match="FIFO|symbolic link"):
            cvxlift.save(net, target)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    dev = tmp_path / "null.npz"
    try:
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a second /dev/null (root only)
    except (PermissionError, OSError, AttributeError):
        return
    with pytest.raises(PersistenceError, match="a device"):
        cvxlift.save(net, dev)
    assert stat.S_ISCHR(os.lstat(dev).st_mode)


def test_links_in_the_directory_path_are_followed(net, tmp_path):
    (tmp_path / "real_dir").mkdir()
    (tmp_path / "linked_dir").symlink_to(tmp_path / "real_dir")
    written = cvxlift.save(net, tmp_path / "linked_dir" / "m")
    assert written == tmp_path / "linked_dir" / "m.npz"
    assert (tmp_path / "real_dir" / "m.npz").is_file()
    assert np.array_equal(cvxlift.load(tmp_path / "real_dir" / "m").weights_[0], net.weights_[0])


def test_longest_valid_name_and_modes(net, tmp_path):
    name = "a" * 251 + ".npz"  # 255 bytes, the usual NAME_MAX: the temporary name must not be longer
    written = cvxlift.save(net, tmp_path / name)
    assert written.name == name and os.listdir(tmp_path) == [name]
    assert np.array_equal(cvxlift.load(written).states_[1], net.states_[1])
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o666 & ~umask
    os.chmod(written, 0o640)
    cvxlift.save(net, written)  # replacing keeps the permission bits
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o640
    with pytest.raises(PersistenceError, match="too long") as info:
        cvxlift.save(net, tmp_path / ("b" * 252))  # 256 bytes with .npz
    assert "b" * 252 in str(info.value)


def test_load_never_blocks_on_a_fifo(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    box = {}

    def target():
        try:
            cvxlift.load(fifo)
        except PersistenceError as exc:
            box["msg"] = str(exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "load() blocked on a FIFO"
    assert "FIFO" in box["msg"] and str(fifo) in box["msg"]


# ---------------------------------------------------------------------------- load: legitimate files still load
def test_compressed_and_fortran_ordered_archives_load(net, net_file, tmp_path):
    meta, arrays = read_parts(net_file)
    arrays["weights_0"] = np.asfortranarray(arrays["weights_0"])
    rehash(meta, arrays)
    np.savez_compressed(
        tmp_path / "c.npz",
        **{META_KEY: np.frombuffer(__import__("json").dumps(meta).encode(), dtype=np.uint8)},
        **arrays,
    )
    back = cvxlift.load(tmp_path / "c.npz")
    assert np.array_equal(back.weights_[0], net.weights_[0]) and back.weights_[0].flags.c_contiguous
    assert np.array_equal(back.predict(X[:5].T), net.predict(X[:5].T))


@pytest.mark.parametrize(
    "variant",
    [
        "early_stopping",
        "regressor_2d",
        "object_labels",
        "bool_labels",
        "unfitted",
        "no_states",
        "class_activation",
        "float32",
    ],
)
def test_estimator_variants_round_trip(variant, tmp_path):
    C, R = cvxlift.LiftedMLPClassifier, cvxlift.LiftedMLPRegressor
    small = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    est, data = {
        "early_stopping": (C(early_stopping=True, validation_fraction=0.3, **small), (X, Y.astype(int))),
        "regressor_2d": (R(**small), (X, X[:, :2] ** 2)),
        "object_labels": (C(**small), (X, np.array(["b", "a"], dtype=object)[Y.astype(int)])),
        "bool_labels": (C(**small), (X, Y)),
        "unfitted": (R(hidden_layer_sizes=(7, 2), lam=[1.0, 2.0, 3.0]), None),
        "no_states": (R(**small), (X, X[:, 0])),
        "class_activation": (C(activation=cvxlift.LeakyReLU, **small), (X, Y)),
        "float32": (R(**small), (X.astype(np.float32), X[:, 0])),
    }[variant]
    if data is not None:
        _fit(est, *data)
    back = cvxlift.load(cvxlift.save(est, tmp_path / "e", include_states=variant != "no_states"))
    assert type(back) is type(est) and back.get_params() == est.get_params()
    if data is not None:
        np.testing.assert_array_equal(back.predict(X), est.predict(X))
        for name in ("n_iter_", "loss_curve_", "train_scores_", "validation_scores_", "best_loss_", "interrupted_"):
            assert getattr(back, name) == getattr(est, name), name
        assert [c.dtype for c in back.coefs_] == [c.dtype for c in est.coefs_]
        for a, b in zip(back.coefs_ + back.intercepts_, est.coefs_ + est.intercepts_):
            np.testing.assert_array_equal(a, b)
    if hasattr(est, "classes_"):
        assert back.classes_.dtype == est.classes_.dtype and list(back.classes_) == list(est.classes_)


# ---------------------------------------------------------------------------- save refuses what load refuses
def test_save_refuses_a_description_load_would_refuse(net, tmp_path):
    bad = LiftedNetwork([4, 5, 3], "relu", random_state=0)
    bad.weights_, bad.biases_ = net.weights_, net.biases_
    bad.history_, bad.history_blocks_ = [1.0, float("nan")], ["init", "W0"]
    with pytest.raises(PersistenceError, match=r"cannot save: load\(\) would refuse .*history\[1\]"):
        cvxlift.save(bad, tmp_path / "m.npz")
    clf = cvxlift.LiftedMLPClassifier(lam=-5)  # never fitted: fit would refuse lam=-5, so does load
    with pytest.raises(PersistenceError, match="lam"):
        cvxlift.save(clf, tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------- load: edited descriptions
EDITS = {  # careful edits: every checksum recomputed afterwards
    "params_unknown_key": (lambda m: set_in(m, ["model", "params", "alpha"], 1.0), r"unexpected entry \['alpha'\]"),
    "params_lam_string": (lambda m: set_in(m, ["model", "params", "lam"], "5"), "lam must be a finite number"),
    "params_max_iter_negative": (lambda m: set_in(m, ["model", "params", "max_iter"], -5), "max_iter"),
    "params_tuple_list": (lambda m: set_in(m, ["model", "tuple_params"], ["lam"]), "tuple_params"),
    "activation_swapped": (
        lambda m: set_in(m, ["model", "params", "activation"], "tanh"),
        r"activation/loss/form give atoms \[Tanh",
    ),
    "classes_count": (lambda m: set_in(m, ["model", "attributes", "classes_", "values"], ["neg"]), "2 entries"),
    "classes_unsorted": (
        lambda m: set_in(m, ["model", "attributes", "classes_", "values"], ["pos", "neg"]),
        "unique and sorted",
    ),
    "classes_int_strings": (
        lambda m: set_in(m, ["model", "attributes", "classes_"], {"values": ["0", "1"], "dtype": "<i8", "kind": "i"}),
        r"values\[0\]",
    ),
    "n_iter_vs_curve": (lambda m: set_in(m, ["model", "attributes", "n_iter_"], 3), "n_iter_=3 differs"),
    "best_loss_forged": (lambda m: set_in(m, ["model", "attributes", "best_loss_"], -1.0), "best_loss_"),
    "train_score_above_one": (lambda m: set_in(m, ["model", "attributes", "train_scores_", 0], 2.0), "accuracies"),
    "n_features_bool": (lambda m: set_in(m, ["model", "attributes", "n_features_in_"], True), "n_features_in_"),
    "history_blocks_length": (
        lambda m: set_in(m, ["model", "network_state", "fitted", "history_blocks"], ["init"]),
        "one per history entry",
    ),
    "atom_param_string": (
        lambda m: set_in(
            m,
            ["model", "network_state", "network", "activations", 0],
            {"name": "leaky_relu", "params": {"negative_slope": "0.2"}},
        ),
        "stored parameters must be the atom's own values",
    ),
    "network_random_state_negative": (
        lambda m: set_in(m, ["model", "network_state", "network", "random_state"], -1),
        "random_state",
    ),
    "meta_extra_entry": (lambda m: set_in(m, ["run_me"], "os.system"), r"unexpected metadata entries \['run_me'\]"),
}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_careful_edits_are_refused(case, clf_file, tmp_path):
    path, _ = clf_file
    edit, pattern = EDITS[case]
    edited = rewrite(path, tmp_path / "edited.npz", edit_meta=edit)
    with pytest.raises(PersistenceError, match=pattern) as info:
        cvxlift.load(edited)
    assert str(info.value).startswith(f"cannot load {edited}: ")


# ---------------------------------------------------------------------------- load: array headers and the zip
def test_a_header_claiming_a_huge_shape_is_refused_before_allocating(net_file, tmp_path):
    claims = {"states_0": (5, 10**12), "states_1": (3, 10**12)}  # consistent with the sizes ("m" is free)
    path = lying_header(net_file, tmp_path / "huge.npz", claims)
    assert path.stat().st_size < 10_000
    with pytest.raises(PersistenceError, match=r"claims shape \(5, 1000000000000\) .* the file holds 1200 bytes"):
        cvxlift.load(path)
    path = lying_header(net_file, tmp_path / "huge2.npz", {"weights_0": (5, 10**12)}, rehash_table=False)
    with pytest.raises(PersistenceError, match=r"'weights_0'.* claims shape \(5, 1000000000000\)"):
        cvxlift.load(path)


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def test_zip_level_lies_are_refused(net_file, tmp_path):
    with zipfile.ZipFile(net_file) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        cases = {
            "twice": (_zip(tmp_path / "twice.npz", members + members[-1:]), "twice"),
            "bz2": (_zip(tmp_path / "bz2.npz", members, zipfile.ZIP_BZIP2), "unsupported compression"),
            "other_entry": (_zip(tmp_path / "other.npz", members + [("../evil.txt", b"x")]), "unexpected entry"),
        }
    for name, (path, pattern) in cases.items():
        with pytest.raises(PersistenceError, match=pattern):
            cvxlift.load(path)
    # a deflated entry whose central directory claims a size deflate cannot produce from its bytes
    bomb = bytearray(_zip(tmp_path / "bomb.npz", members, zipfile.ZIP_DEFLATED).read_bytes())
    cd = bomb.index(b"PK\x01\x02")
    bomb[cd + 24 : cd + 28] = (2**32 - 2).to_bytes(4, "little")  # uncompressed size of the first entry
    (tmp_path / "bomb.npz").write_bytes(bytes(bomb))
    with pytest.raises(PersistenceError, match="more than its compression can produce|corrupted"):
        cvxlift.load(tmp_path / "bomb.npz")


def test_network_from_state_checks_arrays_in_memory(net):
    from cvxlift.persistence import network_from_state, network_to_state

    meta, arrays = network_to_state(net)
    arrays["weights_0"] = arrays["weights_0"].astype(np.float32)
    with pytest.raises(PersistenceError, match="'weights_0' must be float64"):
        network_from_state(meta, arrays)
    meta, arrays = network_to_state(net)
    arrays["weights_0"] = np.array([None])
    with pytest.raises(PersistenceError, match="numeric numpy array"):
        network_from_state(meta, arrays)
