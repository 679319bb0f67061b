"""Join a tabular dataset onto a spatial dataset in PostGIS.

Semantics (the manifest's ``metadata.join_config``): the **tabular side is the left
side**.

==========  ===========================================================================
``how``     rows in the output
==========  ===========================================================================
``left``    every tabular row; geometry and spatial attributes NULL when unmatched
``inner``   only tabular rows whose key matches a spatial feature
``right``   every spatial feature; tabular attributes NULL when unmatched
``outer``   both: every tabular row and every spatial feature
==========  ===========================================================================

A key matching several rows on the other side yields one output row per pair (SQL join
semantics); duplicate keys on either side are detected and reported so that fan-out is never
silent, and ``JoinOptions.on_duplicate_spatial_keys='fail'`` turns it into an error.

**Key rule.** ``JoinSpec.key_match`` (:mod:`etl_transforms.join_keys`). The default,
``trimmed``, compares keys as text trimmed of surrounding whitespace, case-sensitive: ``'007'``
matches ``'007'`` but not ``'7'``, and an integer ``7`` matches only the text ``'7'``; this keeps
codes with leading zeros intact and makes type mismatches visible as unmatched keys.
``numeric`` compares numbers by value, ``casefold`` ignores case, ``exact`` does not trim. An
empty or NULL key never matches. Key samples in the report are normalised keys.

**Columns.** The output holds every spatial column (geometry included) in its original order,
then every tabular column. A tabular column whose name is already taken gets the suffix
``_tabular`` (``_tabular_2``, ... if that is taken too; cut to 63 bytes), reported in
``column_renames``. Both key columns are kept, so nothing is lost in a right or outer join
where only one side has a value.

The output is ONE ``CREATE UNLOGGED TABLE ... AS SELECT``; statistics come from aggregate
queries over the two inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field, model_validator

from etl_transforms.errors import JoinDuplicateKeyError, JoinKeyError, VectorSchemaError
from etl_transforms.identifiers import (
    MAX_IDENTIFIER_BYTES,
    schema_name,
    validate_column_name,
    validate_platform_name,
)
from etl_transforms.join_keys import DEFAULT_KEY_MATCH, KEY_RULES, KeyMatch, key_expression
from etl_transforms.vector_profile import table_columns

if TYPE_CHECKING:
    import psycopg

JoinHow = Literal["left", "inner", "right", "outer"]
KEY_RULE = KEY_RULES[DEFAULT_KEY_MATCH]
_JOIN_SQL = {
    "left": "LEFT JOIN",
    "inner": "INNER JOIN",
    "right": "RIGHT JOIN",
    "outer": "FULL OUTER JOIN",
}
_NON_KEY_TYPES = frozenset({"geometry", "geography", "raster"})


class JoinOptions(BaseModel):
    """Recipe parameters of the join (part of the content hash)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    collision_suffix: str = Field("_tabular", pattern=r"^_[a-z0-9_]{1,20}$")
    key_sample_limit: int = Field(100, ge=0, le=10_000, description="keys listed per report")
    on_duplicate_spatial_keys: Literal["report", "fail"] = "report"


class JoinSpec(BaseModel):
    """Which columns to join on and how (tabular = left)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    left_key: str = Field(min_length=1, description="column of the tabular dataset")
    right_key: str | None = Field(
        None, min_length=1, description="column of the spatial dataset; defaults to left_key"
    )
    how: JoinHow = "left"
    key_match: KeyMatch = DEFAULT_KEY_MATCH

    @model_validator(mode="after")
    def _default_right_key(self) -> JoinSpec:
        if self.right_key is None:
            object.__setattr__(self, "right_key", self.left_key)
        return self

    @property
    def spatial_key(self) -> str:
        return self.right_key or self.left_key

    @classmethod
    def from_join_config(cls, config: object) -> JoinSpec:
        """Build from :class:`etl_models.manifest.JoinConfig` (or anything with its fields)."""
        how = getattr(config, "effective_how", None) or getattr(config, "how", None) or "left"
        return cls(
            left_key=config.left_key,  # type: ignore[attr-defined]
            right_key=getattr(config, "right_key", None),
            how=how,
            key_match=getattr(config, "key_match", DEFAULT_KEY_MATCH),
        )

    def fingerprint(self) -> dict[str, object]:
        """JSON-able identity for content hashes: the default key rule is left out, so joins
        recorded before ``key_match`` existed keep their hash."""
        data = self.model_dump(mode="json")
        if data["key_match"] == DEFAULT_KEY_MATCH:
            del data["key_match"]
        return data


class KeySample(BaseModel):
    """A count of distinct keys with a sorted, capped sample of them."""

    model_config = ConfigDict(frozen=True)

    count: int = Field(description="distinct keys")
    rows: int = Field(0, description="rows carrying these keys")
    sample: tuple[str, ...]

    @property
    def truncated(self) -> bool:
        return len(self.sample) < self.count


class JoinReport(BaseModel):
    """Outcome of :func:`run_join`."""

    model_config = ConfigDict(frozen=True)

    target_table: str
    how: JoinHow
    left_key: str
    right_key: str
    key_match: KeyMatch = DEFAULT_KEY_MATCH
    key_rule: str = KEY_RULE
    rows_out: int
    tabular_rows: int
    spatial_rows: int
    tabular_null_keys: int
    spatial_null_keys: int
    matched_tabular_rows: int
    matched_spatial_rows: int
    match_rate: float | None = Field(description="matched_tabular_rows / tabular_rows")
    spatial_match_rate: float | None = Field(description="matched_spatial_rows / spatial_rows")
    unmatched_tabular_keys: KeySample
    unmatched_spatial_keys: KeySample
    duplicate_spatial_keys: KeySample
    duplicate_tabular_keys: KeySample
    column_renames: dict[str, str] = Field(description="tabular column -> output column")
    output_columns: tuple[str, ...]


class JoinColumnPlan(BaseModel):
    """Output columns: which side each comes from and under which name."""

    model_config = ConfigDict(frozen=True)

    spatial: tuple[str, ...]
    tabular: tuple[tuple[str, str], ...] = Field(description="(tabular column, output name)")

    @property
    def renames(self) -> dict[str, str]:
        return {src: out for src, out in self.tabular if src != out}

    @property
    def output_columns(self) -> tuple[str, ...]:
        return (*self.spatial, *(out for _, out in self.tabular))


def plan_join_columns(
    tabular_columns: Sequence[str], spatial_columns: Sequence[str], suffix: str = "_tabular"
) -> JoinColumnPlan:
    """Resolve name collisions deterministically: spatial names win, tabular ones get ``suffix``
    (then ``suffix_2``, ``suffix_3``, ...), cut to 63 bytes."""
    taken = set(spatial_columns)
    natural = set(tabular_columns)
    out: list[tuple[str, str]] = []
    for column in tabular_columns:
        name = column
        if name in taken:
            n = 1
            while True:
                tail = suffix if n == 1 else f"{suffix}_{n}"
                head = column.encode("utf-8")[: MAX_IDENTIFIER_BYTES - len(tail)]
                candidate = head.decode("utf-8", "ignore") + tail
                if candidate not in taken and candidate not in natural:
                    name = candidate
                    break
                n += 1
        taken.add(name)
        out.append((column, name))
    return JoinColumnPlan(spatial=tuple(spatial_columns), tabular=tuple(out))


def normalised_key(column: sql.Composable, rule: str = DEFAULT_KEY_MATCH) -> sql.Composed:
    """SQL for the key rule ``rule`` (:mod:`etl_transforms.join_keys`) applied to ``column``."""
    return key_expression(column, rule)


def build_join_sql(
    schema: str | Any,
    *,
    tabular_table: str,
    spatial_table: str,
    spec: JoinSpec,
    tabular_columns: Sequence[str],
    spatial_columns: Sequence[str],
    target: str = "joined",
    options: JoinOptions | None = None,
) -> sql.Composed:
    """The single ``CREATE UNLOGGED TABLE target AS SELECT ... JOIN ...`` statement.

    ``spatial_columns`` include the geometry column; ``tabular_columns`` are all tabular
    columns. Names are resolved with :func:`plan_join_columns`.
    """
    options = options or JoinOptions()
    schema = schema_name(schema)
    for name, field in (
        (tabular_table, "tabular_table"),
        (spatial_table, "spatial_table"),
        (target, "target"),
    ):
        validate_platform_name(name, field=field)
    for column in (*tabular_columns, *spatial_columns):
        validate_column_name(column)
    _require_column(spec.left_key, tabular_columns, "left_key", "tabular")
    _require_column(spec.spatial_key, spatial_columns, "right_key", "spatial")
    plan = plan_join_columns(tabular_columns, spatial_columns, options.collision_suffix)
    t, s = sql.Identifier("_etl_t"), sql.Identifier("_etl_s")
    items = [sql.SQL("{}.{}").format(s, sql.Identifier(c)) for c in plan.spatial]
    items += [
        sql.SQL("{}.{} AS {}").format(t, sql.Identifier(src), sql.Identifier(out))
        for src, out in plan.tabular
    ]
    return sql.SQL(
        "CREATE UNLOGGED TABLE {target} AS SELECT {items} FROM {tab} AS {t} {join} {spa} AS {s} "
        "ON {tkey} = {skey}"
    ).format(
        target=sql.Identifier(schema, target),
        items=sql.SQL(", ").join(items),
        tab=sql.Identifier(schema, tabular_table),
        spa=sql.Identifier(schema, spatial_table),
        t=t,
        s=s,
        join=sql.SQL(_JOIN_SQL[spec.how]),
        tkey=normalised_key(
            sql.SQL("{}.{}").format(t, sql.Identifier(spec.left_key)), spec.key_match
        ),
        skey=normalised_key(
            sql.SQL("{}.{}").format(s, sql.Identifier(spec.spatial_key)), spec.key_match
        ),
    )


def _require_column(column: str, available: Sequence[str], field: str, side: str) -> None:
    if column not in available:
        raise JoinKeyError(
            f"join_config.{field} {column!r} is not a column of the {side} dataset; "
            f"available columns: {', '.join(available)}"
        )


def _key_sample(
    conn: psycopg.Connection, query: sql.Composable, limit: int, *, with_rows: bool = False
) -> KeySample:
    """Run ``query`` (yielding ``k`` [, ``n``]) and return count, row total and capped sample."""
    rows_expr = sql.SQL("sum(n) OVER ()") if with_rows else sql.SQL("0")
    wrapped = sql.SQL(
        "SELECT k, count(*) OVER (), {rows} FROM ({q}) AS _etl_keys ORDER BY k LIMIT {limit}"
    ).format(rows=rows_expr, q=query, limit=sql.Literal(max(limit, 1)))
    fetched = conn.execute(wrapped).fetchall()
    if not fetched:
        return KeySample(count=0, rows=0, sample=())
    count, rows = int(fetched[0][1]), int(fetched[0][2] or 0)
    return KeySample(count=count, rows=rows, sample=tuple(str(r[0]) for r in fetched[:limit]))


def _key_counts(conn: psycopg.Connection, side: str, keys: sql.Composable) -> sql.Composable:
    """``keys`` (a query yielding ``k``) counted per key into a temporary table dropped at
    commit; the table's name."""
    table = sql.Identifier(f"_etl_join_{side}_keys")
    conn.execute(
        sql.SQL(
            "CREATE TEMPORARY TABLE {t} ON COMMIT DROP AS "
            "SELECT k, count(*) AS n FROM ({keys}) AS a GROUP BY k"
        ).format(t=table, keys=keys)
    )
    conn.execute(sql.SQL("ANALYZE {}").format(table))
    return table


def run_join(
    conn: psycopg.Connection,
    schema: str | Any,
    *,
    tabular_table: str,
    spatial_table: str,
    spec: JoinSpec,
    options: JoinOptions | None = None,
    geom: str = "geom",
    target: str = "joined",
) -> JoinReport:
    """Join ``tabular_table`` (left) onto ``spatial_table`` into ``schema.target``.

    Raises :class:`JoinKeyError` when a key column is missing or not a scalar column,
    :class:`VectorSchemaError` when a table or the geometry column is missing, and
    :class:`JoinDuplicateKeyError` on duplicate spatial keys when the options say ``fail``.
    """
    options = options or JoinOptions()
    schema = schema_name(schema)
    tab_cols = table_columns(conn, schema, tabular_table)
    spa_cols = table_columns(conn, schema, spatial_table)
    for cols, table in ((tab_cols, tabular_table), (spa_cols, spatial_table)):
        if not cols:
            raise VectorSchemaError(f"table {schema}.{table} does not exist; load it first")
    spatial_types = dict(spa_cols)
    if spatial_types.get(geom) != "geometry":
        raise VectorSchemaError(
            f"spatial dataset table {schema}.{spatial_table} has no geometry column {geom!r}; "
            f"columns: {', '.join(spatial_types)}"
        )
    tabular_names = [c for c, _ in tab_cols]
    spatial_names = [c for c, _ in spa_cols]
    _require_column(spec.left_key, tabular_names, "left_key", "tabular")
    _require_column(spec.spatial_key, spatial_names, "right_key", "spatial")
    for key, types, field in (
        (spec.left_key, dict(tab_cols), "left_key"),
        (spec.spatial_key, spatial_types, "right_key"),
    ):
        if types[key] in _NON_KEY_TYPES:
            raise JoinKeyError(
                f"join_config.{field} {key!r} is a {types[key]} column; join on an attribute "
                "such as a code or id column"
            )

    t_rel = sql.Identifier(schema, tabular_table)
    s_rel = sql.Identifier(schema, spatial_table)
    t_key = normalised_key(sql.Identifier(spec.left_key), spec.key_match)
    s_key = normalised_key(sql.Identifier(spec.spatial_key), spec.key_match)
    t_keys = sql.SQL("SELECT {k} AS k FROM {r}").format(k=t_key, r=t_rel)
    s_keys = sql.SQL("SELECT {k} AS k FROM {r}").format(k=s_key, r=s_rel)
    limit = options.key_sample_limit

    with conn.transaction():
        # Each side's normalised keys are counted once into a temporary table (one scan of
        # each input); every statistic below reads those small tables, not the inputs.
        t_counts, s_counts = (
            _key_counts(conn, "tabular", t_keys),
            _key_counts(conn, "spatial", s_keys),
        )

        def side_stats(mine: sql.Composable, other: sql.Composable) -> tuple[int, int, int]:
            row = conn.execute(
                sql.SQL(
                    "SELECT coalesce(sum(a.n), 0), "
                    "coalesce(sum(a.n) FILTER (WHERE a.k IS NULL), 0), "
                    "coalesce(sum(a.n) FILTER (WHERE b.k IS NOT NULL), 0) "
                    "FROM {mine} AS a LEFT JOIN {other} AS b ON b.k = a.k"
                ).format(mine=mine, other=other)
            ).fetchone()
            assert row is not None
            return int(row[0]), int(row[1]), int(row[2])

        tabular_rows, tabular_null, matched_tabular = side_stats(t_counts, s_counts)
        spatial_rows, spatial_null, matched_spatial = side_stats(s_counts, t_counts)

        def unmatched(mine: sql.Composable, other: sql.Composable) -> KeySample:
            return _key_sample(
                conn,
                sql.SQL(
                    "SELECT k FROM {mine} WHERE k IS NOT NULL EXCEPT SELECT k FROM {other}"
                ).format(mine=mine, other=other),
                limit,
            )

        def duplicates(mine: sql.Composable) -> KeySample:
            return _key_sample(
                conn,
                sql.SQL("SELECT k, n FROM {mine} WHERE k IS NOT NULL AND n > 1").format(mine=mine),
                limit,
                with_rows=True,
            )

        unmatched_tabular = unmatched(t_counts, s_counts)
        unmatched_spatial = unmatched(s_counts, t_counts)
        duplicate_spatial = duplicates(s_counts)
        duplicate_tabular = duplicates(t_counts)
        if duplicate_spatial.count and options.on_duplicate_spatial_keys == "fail":
            raise JoinDuplicateKeyError(
                f"{duplicate_spatial.count} key(s) of join_config.right_key "
                f"{spec.spatial_key!r} occur more than once in the spatial dataset "
                f"(e.g. {list(duplicate_spatial.sample[:10])}); each would repeat tabular rows. "
                "De-duplicate the spatial dataset or choose a unique key column"
            )

        statement = build_join_sql(
            schema,
            tabular_table=tabular_table,
            spatial_table=spatial_table,
            spec=spec,
            tabular_columns=tabular_names,
            spatial_columns=spatial_names,
            target=target,
            options=options,
        )
        cursor = conn.execute(statement)
        rows_out = cursor.rowcount
        if rows_out is None or rows_out < 0:
            count_row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, target))
            ).fetchone()
            rows_out = int(count_row[0]) if count_row else 0

    plan = plan_join_columns(tabular_names, spatial_names, options.collision_suffix)
    return JoinReport(
        target_table=target,
        how=spec.how,
        left_key=spec.left_key,
        right_key=spec.spatial_key,
        key_match=spec.key_match,
        key_rule=KEY_RULES[spec.key_match],
        rows_out=rows_out,
        tabular_rows=tabular_rows,
        spatial_rows=spatial_rows,
        tabular_null_keys=tabular_null,
        spatial_null_keys=spatial_null,
        matched_tabular_rows=matched_tabular,
        matched_spatial_rows=matched_spatial,
        match_rate=matched_tabular / tabular_rows if tabular_rows else None,
        spatial_match_rate=matched_spatial / spatial_rows if spatial_rows else None,
        unmatched_tabular_keys=unmatched_tabular,
        unmatched_spatial_keys=unmatched_spatial,
        duplicate_spatial_keys=duplicate_spatial,
        duplicate_tabular_keys=duplicate_tabular,
        column_renames=plan.renames,
        output_columns=plan.output_columns,
    )
