"""Header normalisation: unique, SQL-safe, at most 63 bytes, mapping kept."""

from __future__ import annotations

import random
import re

import pytest

from etl_transforms.headers import POSTGRES_RESERVED_WORDS, normalize_headers

pytestmark = pytest.mark.unit

SAFE = re.compile(r"^[a-z_][a-z0-9_]*$")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Name", "name"),
        ("  Café Name ", "cafe_name"),
        ("PopTotal", "pop_total"),
        ("HTTPStatusCode", "http_status_code"),
        ("LGA_CODE21", "lga_code21"),
        ("2021 Population (%)", "col_2021_population"),
        ("order", "order_"),
        ("SELECT", "select_"),
        ("a--b  c", "a_b_c"),
        ("\ufeffid", "id"),
    ],
)
def test_single_header_rules(header, expected):
    assert normalize_headers([header]).normalised == (expected,)


def test_empty_and_non_ascii_headers_get_positional_names():
    mapping = normalize_headers(["id", "", "人口", "   "])
    assert mapping.normalised == ("id", "column_2", "column_3", "column_4")


def test_duplicates_get_suffixes_but_natural_names_are_kept():
    mapping = normalize_headers(["a", "A", "a_2", "a "])
    # 'a_2' is a header of its own, so the duplicates skip it.
    assert mapping.normalised == ("a", "a_3", "a_2", "a_4")
    assert mapping.original == ("a", "A", "a_2", "a ")
    assert mapping.normalised_to_original()["a_3"] == "A"
    assert mapping.renamed() == {"a_3": "A", "a_4": "a "}
    assert [r["position"] for r in mapping.as_records()] == [0, 1, 2, 3]


def test_overlong_headers_are_cut_and_stay_unique():
    long = "very long column name " * 10
    mapping = normalize_headers([long, long, long.upper()])
    names = mapping.normalised
    assert len(set(names)) == 3
    assert all(len(n.encode()) <= 63 for n in names)
    assert names[0] == ("very_long_column_name_" * 3)[:63]
    assert names[1].endswith("_2") and names[2].endswith("_3")
    assert len(names[1]) == len(names[2]) == 63


def test_random_headers_always_normalise_to_unique_safe_names():
    rng = random.Random(20261122)
    alphabet = "aAbB zZ09_-.()/éß人\t"
    for _ in range(200):
        headers = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 90)))
            for _ in range(rng.randint(1, 30))
        ]
        headers += rng.sample(headers, k=min(3, len(headers)))  # force duplicates
        names = normalize_headers(headers).normalised
        assert len(names) == len(headers)
        assert len(set(names)) == len(names)
        for name in names:
            assert SAFE.match(name), name
            assert len(name.encode()) <= 63
            assert name not in POSTGRES_RESERVED_WORDS
