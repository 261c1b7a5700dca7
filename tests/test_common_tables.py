"""read_table: formats by extension, line numbers a user can find, clear errors for broken files."""
import pandas as pd
import pytest

from tasks.common.errors import DataError, SkipCounter
from tasks.common.tables import read_table, require_columns


def test_csv_index_is_the_editor_line_even_with_multiline_quotes_and_blank_lines(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('text,stars\n"two\nlines",3\n\nok,4\n', encoding="utf-8")
    frame = read_table(path)
    assert list(frame.index) == [2, 5]
    assert frame.loc[5, "text"] == "ok"


def test_utf8_bom_is_stripped(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("\ufefftext,stars\ntốt,4\n".encode("utf-8"))
    assert list(read_table(path).columns) == ["text", "stars"]


def test_tsv_jsonl_parquet(tmp_path):
    (tmp_path / "r.tsv").write_text("text\tstars\na, b\t2\n", encoding="utf-8")
    assert read_table(tmp_path / "r.tsv").loc[2, "text"] == "a, b"
    (tmp_path / "r.jsonl").write_text('{"text": "x", "stars": 1}\n\n{"text": "y", "stars": 2}\n', encoding="utf-8")
    assert list(read_table(tmp_path / "r.jsonl").index) == [1, 3]
    pd.DataFrame({"a": [1, 2]}).to_parquet(tmp_path / "r.parquet")
    assert list(read_table(tmp_path / "r.parquet").index) == [1, 2]


@pytest.mark.parametrize("name, content, message", [
    ("bad.csv", b"text,stars\nok,1\n\xff\xfe,2\n", "bad.csv:3: line is not valid utf-8"),
    ("empty.csv", b"", "empty.csv: file is empty"),
    ("header.csv", b"text,stars\n", "header.csv: file has a header but no data rows"),
    ("bad.jsonl", b'{"a": 1}\n{"a": \n', "bad.jsonl:2: invalid JSON"),
    ("list.jsonl", b'[1, 2]\n', "list.jsonl:1: expected a JSON object per line"),
    ("ragged.csv", b"a,b\n1,2\n1,2,3\n", "ragged.csv: cannot parse as CSV"),
    ("table.xlsx", b"x", "unsupported file type '.xlsx'"),
    ("corrupt.parquet", b"not parquet", "corrupt.parquet: cannot read Parquet"),
])
def test_broken_files_name_file_and_line(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError) as error:
        read_table(tmp_path / name)
    assert message in str(error.value)


def test_missing_file_and_missing_columns(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "none.csv")
    with pytest.raises(DataError, match=r"missing column\(s\) \['stars'\]"):
        require_columns(pd.DataFrame({"text": ["a"]}), ["text", "stars"], "f.csv")


def test_skip_counter_raises_or_counts():
    strict = SkipCounter("error")
    with pytest.raises(DataError, match="f.csv:3: empty text"):
        strict.bad("f.csv", 3, "empty text")
    lenient = SkipCounter("skip")
    lenient.bad("f.csv", 3, "empty text")
    lenient.bad("f.csv", 9, "bad rating")
    assert lenient.total == 2 and lenient.report() == {"f.csv": 2}
    with pytest.raises(ValueError, match="on_bad_row must be"):
        SkipCounter("ignore")
