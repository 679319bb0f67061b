"""CSV -> Parquet: leading-zero codes, encodings, odd headers, streaming in many blocks."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl_transforms.errors import TabularEncodingError, TabularParseError
from etl_transforms.tabular import (
    METADATA_HEADER_MAPPING,
    TabularOptions,
    csv_to_parquet,
    read_header_mapping,
)

pytestmark = pytest.mark.unit


def _write_csv(path: Path, rows: list[list[object]], *, encoding="utf-8", delimiter=",") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


def test_types_and_leading_zero_codes(tmp_path):
    src = _write_csv(
        tmp_path / "codes.csv",
        [
            [
                "LGA Code",
                "Postcode",
                "Count",
                "Share",
                "Active",
                "Surveyed",
                "Label",
                "Small",
                "At",
            ],
            ["01001", "0800", "12", "0.5", "true", "2024-01-31", "alpha", "0", "2024-01-31 10:00"],
            [
                "20660",
                "3000",
                "-7",
                "1e3",
                "FALSE",
                "2024-02-29",
                "beta",
                "1",
                "2024-02-01T23:59:59",
            ],
            ["007", "2000", " 40 ", "-2.25", "True", "2023-12-01", "", "0", ""],
        ],
    )
    dst = tmp_path / "codes.parquet"
    report = csv_to_parquet(src, dst)

    table = pq.read_table(dst)
    assert table.schema.names == [
        "lga_code",
        "postcode",
        "count",
        "share",
        "active",
        "surveyed",
        "label",
        "small",
        "at",
    ]
    types = {f.name: f.type for f in table.schema}
    assert types["lga_code"] == pa.string()
    assert types["postcode"] == pa.string()
    assert types["count"] == pa.int64()
    assert types["share"] == pa.float64()
    assert types["active"] == pa.bool_()
    assert types["surveyed"] == pa.date32()
    assert types["label"] == pa.string()
    assert types["small"] == pa.int64()  # a lone '0' is not a leading zero
    assert types["at"] == pa.timestamp("us")
    data = table.to_pydict()
    assert data["lga_code"] == ["01001", "20660", "007"]
    assert data["postcode"] == ["0800", "3000", "2000"]
    assert data["count"] == [12, -7, 40]
    assert data["share"] == [0.5, 1000.0, -2.25]
    assert data["active"] == [True, False, True]
    assert data["surveyed"] == [dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2023, 12, 1)]
    assert data["label"] == ["alpha", "beta", None]  # only the empty field is NULL
    assert data["at"] == [
        dt.datetime(2024, 1, 31, 10, 0),
        dt.datetime(2024, 2, 1, 23, 59, 59),
        None,
    ]

    assert report.row_count == 3
    assert report.string_id_columns == ("lga_code", "postcode")
    assert [c.name for c in report.column_schema] == table.schema.names
    assert report.column_schema[0].original == "LGA Code"
    assert report.column_schema[2].type == "int64"
    assert pq.ParquetFile(dst).metadata.row_group(0).column(0).compression == "ZSTD"


def test_many_blocks_stream_with_a_stable_schema(tmp_path):
    """A tiny block size forces many blocks; a leading-zero code and a word appear only in the
    last rows, yet the whole column is text and every value is exact."""
    rows: list[list[object]] = [["code", "value", "mixed", "big"]]
    for i in range(1, 5001):
        rows.append([str(i), str(i * 2), str(i), str(10**17 + i)])
    rows.append(["0999", "2", "n/a", "12345678901234567890"])
    src = _write_csv(tmp_path / "big.csv", rows)
    dst = tmp_path / "big.parquet"

    report = csv_to_parquet(src, dst, TabularOptions(block_size=1024, row_group_rows=1000))

    assert report.blocks_read > 50  # really streamed, block by block
    assert report.row_count == 5001
    parquet = pq.ParquetFile(dst)
    assert parquet.metadata.num_rows == 5001
    assert parquet.metadata.num_row_groups == 6  # 5 full groups of 1000 + 1 row
    assert report.row_groups == 6
    table = parquet.read()
    types = {f.name: f.type for f in table.schema}
    assert types == {
        "code": pa.string(),
        "value": pa.int64(),
        "mixed": pa.string(),
        "big": pa.string(),  # 20 digits: too big for int64, too precise for float64
    }
    data = table.to_pydict()
    assert data["code"] == [r[0] for r in rows[1:]]
    assert data["value"] == [int(r[1]) for r in rows[1:]]
    assert data["mixed"] == [r[2] for r in rows[1:]]
    assert data["big"] == [r[3] for r in rows[1:]]
    assert report.string_id_columns == ("code",)


def test_latin1_needs_the_encoding_option(tmp_path):
    src = _write_csv(
        tmp_path / "latin1.csv",
        [["Nom", "Données"], ["Café", "1"], ["Crème brûlée", "2"]],
        encoding="latin-1",
    )
    with pytest.raises(TabularEncodingError, match=r"options\.encoding") as excinfo:
        csv_to_parquet(src, tmp_path / "fail.parquet")
    assert "utf-8" in str(excinfo.value)

    dst = tmp_path / "latin1.parquet"
    report = csv_to_parquet(src, dst, TabularOptions(encoding="latin-1"))
    table = pq.read_table(dst)
    assert table.schema.names == ["nom", "donnees"]
    assert table.to_pydict() == {"nom": ["Café", "Crème brûlée"], "donnees": [1, 2]}
    assert report.header_mapping.original == ("Nom", "Données")
    assert report.options.encoding == "iso8859-1"


def test_invalid_utf8_in_data_rows_is_an_encoding_error(tmp_path):
    src = tmp_path / "mixed.csv"
    src.write_bytes(b"name,n\nplain,1\ncaf\xe9,2\n")
    with pytest.raises(TabularEncodingError, match="latin-1"):
        csv_to_parquet(src, tmp_path / "out.parquet")


def test_duplicate_and_overlong_headers(tmp_path):
    long = "Population estimate for the statistical area level two in " + "x" * 60
    src = _write_csv(
        tmp_path / "headers.csv",
        [
            ["Name", "name", "NAME", long, long, "", "1st", "order"],
            ["a", "b", "c", "1", "2", "z", "q", "r"],
        ],
    )
    dst = tmp_path / "headers.parquet"
    report = csv_to_parquet(src, dst)
    names = pq.read_schema(dst).names
    assert names[:3] == ["name", "name_2", "name_3"]
    assert len(names[3]) == 63 and names[4] == names[3][:61] + "_2"
    assert names[5:] == ["column_6", "col_1st", "order_"]
    assert len(set(names)) == len(names)
    assert pq.read_table(dst).to_pylist()[0] == dict(
        zip(names, ["a", "b", "c", 1, 2, "z", "q", "r"], strict=True)
    )
    stored = read_header_mapping(dst)
    assert stored == report.header_mapping
    assert stored is not None
    assert stored.original == ("Name", "name", "NAME", long, long, "", "1st", "order")
    raw = json.loads(pq.read_schema(dst).metadata[METADATA_HEADER_MAPPING])
    assert raw[3] == {"position": 3, "original": long, "normalised": names[3]}


def test_delimiter_and_quoted_newlines(tmp_path):
    src = tmp_path / "semi.csv"
    src.write_text('id;note\n"001";"line one\nline two"\n"002";plain\n', encoding="utf-8")
    dst = tmp_path / "semi.parquet"
    report = csv_to_parquet(src, dst, TabularOptions(delimiter=";"))
    assert pq.read_table(dst).to_pydict() == {
        "id": ["001", "002"],
        "note": ["line one\nline two", "plain"],
    }
    assert report.string_id_columns == ("id",)


def test_ragged_rows_name_the_delimiter_option(tmp_path):
    src = tmp_path / "ragged.csv"
    src.write_text("a,b\n1,2\n3,4,5\n", encoding="utf-8")
    with pytest.raises(TabularParseError, match=r"options\.delimiter"):
        csv_to_parquet(src, tmp_path / "out.parquet")


def test_empty_and_header_only_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(TabularParseError, match="header row is required"):
        csv_to_parquet(empty, tmp_path / "empty.parquet")

    header_only = tmp_path / "header.csv"
    header_only.write_text("Code,Value\n", encoding="utf-8")
    report = csv_to_parquet(header_only, tmp_path / "header.parquet")
    table = pq.read_table(tmp_path / "header.parquet")
    assert table.num_rows == 0 == report.row_count
    assert table.schema.names == ["code", "value"]
    assert {f.type for f in table.schema} == {pa.string()}


def test_forced_column_types_and_null_values(tmp_path):
    src = _write_csv(
        tmp_path / "forced.csv",
        [["zip", "score", "country"], ["12345", "1", "NA"], ["54321", "-", "AU"]],
    )
    dst = tmp_path / "forced.parquet"
    csv_to_parquet(src, dst, TabularOptions(column_types={"zip": "string"}))
    data = pq.read_table(dst).to_pydict()
    assert data == {"zip": ["12345", "54321"], "score": ["1", "-"], "country": ["NA", "AU"]}

    csv_to_parquet(src, dst, TabularOptions(null_values=("", "-")))
    data = pq.read_table(dst).to_pydict()
    assert data["score"] == [1, None]
    assert data["zip"] == [12345, 54321]

    with pytest.raises(TabularParseError, match="column_types"):
        csv_to_parquet(src, dst, TabularOptions(column_types={"nope": "int64"}))
    failed = tmp_path / "sub" / "failed.parquet"
    with pytest.raises(TabularParseError, match="'country'"):
        csv_to_parquet(src, failed, TabularOptions(column_types={"country": "int64"}))
    assert not failed.exists()  # no partial output left behind


def test_unknown_encoding_is_rejected():
    with pytest.raises(ValueError, match="unknown text encoding"):
        TabularOptions(encoding="klingon-8")
