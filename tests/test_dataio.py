"""cvxlift.dataio: the data files of the ``cvxlift`` command (CSV, .npy, .npz) and the CSV writer."""

import csv
import io
import os
import threading

import numpy as np
import pytest

from cvxlift import ValidationError
from cvxlift.dataio import is_number, read_xy, spreadsheet_cell, write_predictions

RNG = np.random.default_rng(0)
X = np.round(RNG.normal(size=(6, 3)), 6)
LABELS = np.array([0, 1, 2, 0, 1, 2])


def _table(rows, delimiter=",", header=None, bom=False, eol="\n"):
    lines = ([delimiter.join(header)] if header else []) + [delimiter.join(map(str, r)) for r in rows]
    return ("\ufeff" if bom else "") + eol.join(lines) + eol


ROWS = [[*x, lab] for x, lab in zip(X.tolist(), LABELS.tolist())]
VARIANTS = {
    "comma_header": _table(ROWS, header=["f1", "f2", "f3", "label"]),
    "comma_no_header": _table(ROWS),
    "semicolon_header": _table(ROWS, ";", header=["f1", "f2", "f3", "label"]),
    "semicolon_no_header": _table(ROWS, ";"),
    "tab_header_crlf_bom": _table(ROWS, "\t", header=["a", "b", "c", "y"], bom=True, eol="\r\n"),
    "pipe_blank_lines": _table(ROWS, "|").replace("\n", "\n\n", 2),
    "quoted_header": _table(ROWS, header=['"feature, one"', '"two"', "three", "label"]),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_csv_variants_read_the_same_table(variant, tmp_path):
    p = tmp_path / "d.csv"
    p.write_text(VARIANTS[variant], encoding="utf-8", newline="")
    got_X, got_y = read_xy(p)
    np.testing.assert_array_equal(got_X, X)
    assert got_y.dtype == np.int64 and list(got_y) == list(LABELS)


def test_header_rule_and_overrides(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text(_table([["1", "2", "3"], ["4", "5", "6"]]))
    X_, y_ = read_xy(p)  # all numbers: no header
    assert X_.shape == (2, 2) and list(y_) == [3, 6]
    X_, y_ = read_xy(p, header="yes")  # forced: the first row is dropped
    assert X_.shape == (1, 2)
    p.write_text(_table([["x1", "x2", "label"], ["1", "2", "cat"], ["3", "4", "dog"]]))
    X_, y_ = read_xy(p)  # text over numbers in x1/x2: a header; text labels stay text
    assert X_.tolist() == [[1.0, 2.0], [3.0, 4.0]] and y_.tolist() == ["cat", "dog"]
    with pytest.raises(ValidationError, match=r"row 1, column 1 holds 'x1'"):
        read_xy(p, header="no")
    p.write_text(_table([["1", "2", "0.5"], ["3", "4", "1.5"]]))
    assert read_xy(p)[1].dtype == np.float64  # non-integral targets stay floats
    np.testing.assert_array_equal(read_xy(p, delimiter=",")[0], [[1, 2], [3, 4]])


def test_predict_side_reads_x_only_or_splits_a_target(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text(_table(ROWS))
    X_, y_ = read_xy(p, need_y=False, n_features=3)  # one more column than features: y
    np.testing.assert_array_equal(X_, X) and list(y_) == list(LABELS)
    X_, y_ = read_xy(p, need_y=False, n_features=4)
    assert X_.shape == (6, 4) and y_ is None
    np.save(tmp_path / "d.npy", np.column_stack([X, LABELS]))
    X_, y_ = read_xy(tmp_path / "d.npy")
    np.testing.assert_array_equal(X_, X)
    np.testing.assert_array_equal(y_, LABELS)
    assert read_xy(tmp_path / "d.npy", need_y=False)[1] is None


BAD = {
    "decimal_comma.csv": ("1,5;2,0;0\n3,5;4,0;1\n", r"row 1, column 1 holds '1,5' \(decimal commas are not read"),
    "text_cell.csv": ("a,b,y\n1,2,0\n3,abc,1\n", r"X must be numeric: row 3, column 2 \('b'\) holds 'abc'"),
    "underscore.csv": ("1_000,2,0\n3,4,1\n", r"row 1, column 1 holds '1_000'"),
    "formula.csv": ("=1+2,2,0\n3,4,1\n", r"holds '=1\+2'"),
    "empty_cell.csv": ("1,,0\n3,4,1\n", r"row 1, column 2 holds ''"),
    "ragged.csv": ("1,2,0\n3,4\n", "cannot detect the delimiter|row 2 has 2 fields"),
    "nan.csv": ("1,nan,0\n3,4,1\n", "X has NaN or infinite entries"),
    "only_header.csv": ("a,b,y\n", "header but no data rows|holds 'a'"),
    "one_column.csv": ("1\n2\n", "expected the features X and a last column y"),
    "empty.csv": ("", "the file is empty"),
    "bad_quotes.csv": ('1,"2,0\n3,4,1\n', "malformed CSV|cannot detect"),
    "latin1.csv": (b"caf\xe9,1,0\n", "not UTF-8 text"),
    "nul.csv": ("1,2,0\x00\n", "NUL"),
    "data.json": ('{"X": [[1]]}', "unsupported data file"),
    "fake.npz": ("not an archive", "not a readable .npz"),
    "fake.npy": ("not an array", r"not a \.npy array file"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_are_one_clear_error(name, tmp_path):
    content, pattern = BAD[name]
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(ValidationError, match=pattern) as info:
        read_xy(p)
    assert str(info.value).startswith(str(p))


def test_binary_arrays_are_checked_before_allocation(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([[object()]], dtype=object), allow_pickle=True)
    with pytest.raises(ValidationError, match=r"object \(pickled\) array; refused"):
        read_xy(tmp_path / "obj.npy")
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 10**3)})
    (tmp_path / "huge.npy").write_bytes(buf.getvalue() + b"\0" * 64)
    with pytest.raises(ValidationError, match=r"claims shape \(1000000000, 1000\) .* the file holds 64 bytes"):
        read_xy(tmp_path / "huge.npy")
    np.savez(tmp_path / "s.npz", X=X, y=np.array(["a", "b", "c", "a", "b", "c"]))
    assert read_xy(tmp_path / "s.npz")[1].tolist() == ["a", "b", "c", "a", "b", "c"]
    np.savez(tmp_path / "c.npz", X=X + 1j, y=LABELS)
    with pytest.raises(ValidationError, match="X must be numeric"):
        read_xy(tmp_path / "c.npz")


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "d.csv"
    os.mkfifo(fifo)
    box = {}
    t = threading.Thread(
        target=lambda: box.setdefault("exc", pytest.raises(ValidationError, read_xy, fifo)), daemon=True
    )
    t.start()
    t.join(10)
    assert not t.is_alive(), "read_xy blocked on a FIFO"
    assert "FIFO" in str(box["exc"].value)


def test_numbers_are_plain_numbers():
    for text in ("1", "-2.5", "+3e-4", ".5", "5.", " 7 ", "nan", "-inf", "Infinity"):
        assert is_number(text), text
    for text in ("1_000", "1,5", "١", "0x10", "1e", "=1", "", "--1", "1.2.3"):
        assert not is_number(text), text


def test_spreadsheet_cells():
    assert spreadsheet_cell("=1+2") == "'=1+2"
    assert spreadsheet_cell("@SUM(A1)") == "'@SUM(A1)"
    assert spreadsheet_cell("+33 6 12") == "'+33 6 12"
    assert spreadsheet_cell("-x") == "'-x"
    assert spreadsheet_cell("\tcmd") == "'\tcmd" and spreadsheet_cell("\rcmd") == "'\rcmd"
    assert spreadsheet_cell("-1.5") == "-1.5" and spreadsheet_cell("+2") == "+2"  # text that is a number
    assert spreadsheet_cell(-1.5) == "-1.5" and spreadsheet_cell(np.float64(-0.1)) == "-0.1"
    assert spreadsheet_cell(np.int64(-3)) == "-3" and spreadsheet_cell(np.bool_(True)) == "True"
    assert spreadsheet_cell("plain, with comma") == "plain, with comma"


def test_write_predictions_round_trips_through_csv():
    labels = np.array(["a,b", 'say "hi"', "line\nbreak", "=cmd()", "-7", "ok"])
    fh = io.StringIO(newline="")
    assert write_predictions(fh, labels) == 6
    rows = list(csv.reader(io.StringIO(fh.getvalue(), newline="")))
    assert rows[0] == ["index", "prediction"]
    assert [r[1] for r in rows[1:]] == ["a,b", 'say "hi"', "line\nbreak", "'=cmd()", "-7", "ok"]
    fh = io.StringIO(newline="")
    write_predictions(fh, np.array([[0.1, -2.0], [3.0, 1e-300]]))
    rows = list(csv.reader(io.StringIO(fh.getvalue())))
    assert rows[0] == ["index", "output_0", "output_1"]
    assert [float(v) for v in rows[2][1:]] == [3.0, 1e-300]  # repr: read back exactly
