"""The ``etl`` command: thin wrappers that parse options, call the logic, and print.

Heavy modules (``etl_storage`` pulls in Dagster) are imported inside the commands, so
``etl --help`` answers quickly. Every command runs under :func:`_guarded`, which turns known
errors into a readable message on stderr and the documented exit code, never a traceback.
"""

from __future__ import annotations

import contextvars
import functools
import getpass
import os
import sys
import traceback
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from etl_cli import __version__
from etl_cli.environment import CliEnvironment, load_environment
from etl_cli.errors import CliError, ServiceNames, WaitTimeout, redact, translate_exception
from etl_cli.exit_codes import ExitCode, exit_code_table
from etl_cli.output import print_json, stderr_console, stdout_console

if TYPE_CHECKING:
    from etl_cli.batch_status import BatchStatus
    from etl_cli.connections import Services
    from etl_cli.submission import SubmissionPlan

F = TypeVar("F", bound=Callable[..., Any])

EPILOG = (
    "Settings come from the environment (MINIO_ENDPOINT, MINIO_ROOT_USER, MINIO_ROOT_PASSWORD, "
    "MINIO_SECURE, LANDING_BUCKET, LAKE_BUCKET, MONGO_CONNECTION_STRING, MONGO_DATABASE), then "
    "from .local/platform.env (found upward from the working directory, or named by "
    "ETL_PLATFORM_ENV) for what the environment leaves unset. ETL_CLI_TIMEOUT_S bounds "
    "connecting to a service (default 10).\n\n"
    "Exit codes:\n" + exit_code_table()
)

app = typer.Typer(
    name="etl",
    help="Submit data to the spatial ETL platform, follow batches, inspect and download datasets.",
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
manifest_app = typer.Typer(
    help="Validate manifests locally; print the published JSON Schema.",
    no_args_is_help=True,
    epilog=EPILOG,
)
app.add_typer(manifest_app, name="manifest")

_invocation: contextvars.ContextVar[_Invocation | None] = contextvars.ContextVar(
    "etl_invocation", default=None
)


class FileType(str, Enum):
    vector = "vector"
    raster = "raster"
    tabular = "tabular"


class JoinHow(str, Enum):
    left = "left"
    inner = "inner"
    right = "right"
    outer = "outer"


class _Invocation:
    """State of one command run: the environment and the services, opened on first use."""

    def __init__(self) -> None:
        self._environment: CliEnvironment | None = None
        self._services: Services | None = None

    @property
    def environment(self) -> CliEnvironment:
        if self._environment is None:
            self._environment = load_environment()
        return self._environment

    @property
    def services(self) -> Services:
        if self._services is None:
            from etl_cli.connections import Services

            self._services = Services(self.environment)
        return self._services

    def names_and_secrets(self) -> tuple[ServiceNames, list[str]]:
        env = self._environment
        if env is None:
            try:
                env = load_environment()
            except CliError:
                env = CliEnvironment(values=dict(os.environ))
        return env.service_names(), env.secrets()

    def close(self) -> None:
        if self._services is not None:
            self._services.close()


def _current() -> _Invocation:
    invocation = _invocation.get()
    if invocation is None:  # called outside a guarded command (tests calling helpers)
        invocation = _Invocation()
        _invocation.set(invocation)
    return invocation


def _report(error: CliError, secrets: list[str]) -> None:
    console = stderr_console()
    console.print(f"[bold red]error:[/] {redact(error.message, secrets)}", markup=True)
    if error.hint:
        console.print(f"[dim]hint:[/] {redact(error.hint, secrets)}", markup=True)


def _guarded(func: F) -> F:
    """Run a command; known errors become a message and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        invocation = _Invocation()
        token = _invocation.set(invocation)
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            stderr_console().print("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except Exception as exc:
            import click

            if isinstance(exc, click.ClickException):
                raise
            names, secrets = invocation.names_and_secrets()
            error = translate_exception(exc, names)
            if error is None:
                detail = redact(f"{type(exc).__name__}: {exc}", secrets)
                if os.environ.get("ETL_CLI_DEBUG") == "1":
                    sys.stderr.write(redact(traceback.format_exc(), secrets))
                error = CliError(
                    f"internal error: {detail}",
                    "this is a bug in etl; rerun with ETL_CLI_DEBUG=1 and report the output",
                )
            _report(error, secrets)
            raise typer.Exit(int(error.exit_code)) from None
        finally:
            invocation.close()
            _invocation.reset(token)

    wrapper.__doc__ = _reflow(func.__doc__)
    return wrapper  # type: ignore[return-value]


def _reflow(doc: str | None) -> str | None:
    """Docstring paragraphs as single lines: the help renderer wraps them to the terminal."""
    if doc is None:
        return None
    import inspect

    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"etl {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Submit data to the spatial ETL platform, follow batches, inspect and download datasets."""


# --- shared options -------------------------------------------------------------------------

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document (scripting).")]
TimeoutOption = Annotated[
    float,
    typer.Option("--timeout", min=0.0, help="Give up waiting after this many seconds (exit 5)."),
]
IntervalOption = Annotated[
    float, typer.Option("--interval", min=0.05, help="Seconds between ledger polls.")
]
TagOption = Annotated[
    list[str] | None,
    typer.Option("--tag", help="Tag KEY=VALUE (repeatable); goes to metadata.tags."),
]
TitleOption = Annotated[str | None, typer.Option("--title", help="Title of the batch.")]
DescriptionOption = Annotated[
    str | None, typer.Option("--description", help="Description of the batch.")
]
ProjectOption = Annotated[str | None, typer.Option("--project", help="Project name.")]
DatasetIdOption = Annotated[
    str | None,
    typer.Option("--dataset-id", help="Dataset to create/version (default: derived from batch)."),
]
BatchIdOption = Annotated[
    str | None,
    typer.Option("--batch-id", help="Batch id (default: <stem>_<UTC time>_<4 hex>)."),
]
UploaderOption = Annotated[
    str | None,
    typer.Option("--uploader", envvar="ETL_UPLOADER", help="Who submits (default: login name)."),
]


def _uploader(value: str | None) -> str:
    if value:
        return value
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"


# --- submit / join --------------------------------------------------------------------------


def _deliver(
    plan: SubmissionPlan,
    *,
    wait: bool,
    timeout: float,
    interval: float,
    json_output: bool,
) -> None:
    """Upload ``plan`` (files, then manifest), print the batch id, optionally follow it."""
    from etl_cli.output import byte_progress, human_bytes
    from etl_cli.transfers import ensure_batch_id_free, upload_batch

    services = _current().services
    err = stderr_console()
    for note in plan.notes:
        err.print(f"[yellow]note:[/] {note}")
    store, ledger = services.store, services.ledger

    def file_done(item) -> None:
        if not err.is_terminal:
            err.print(f"uploaded s3://{store.landing_bucket}/{item.key} ({human_bytes(item.size)})")

    # Refuse a taken batch id before the progress bar appears.
    earlier = ensure_batch_id_free(store, ledger, plan.batch_id)
    with byte_progress(err, plan.total_bytes, f"uploading {len(plan.uploads)} file(s)") as sink:
        submitted = upload_batch(store, ledger, plan, sink, file_done, earlier)
    summary = plan.summary()
    if not json_output:
        typer.echo(plan.batch_id)
        err.print(
            f"submitted s3://{store.landing_bucket}/{plan.manifest_key} "
            f"(dataset {plan.dataset_id}, lane {plan.lane})"
        )
    if not wait:
        if json_output:
            print_json(summary)
        return
    status = _follow(
        plan.batch_id,
        timeout=timeout,
        interval=interval,
        json_output=json_output,
        ignore_intakes=submitted.earlier_intake_ids,
        on_timeout=(lambda last: print_json({**summary, **_final(last), "timed_out": True}))
        if json_output
        else None,
    )
    if json_output:
        print_json({**summary, **_final(status), "timed_out": False})
    else:
        from etl_cli.output import render_status

        render_status(err, status)
    raise typer.Exit(int(status.exit_code))


def _final(status: BatchStatus | None) -> dict[str, Any]:
    if status is None:
        return {"status": None, "report": None}
    return {"status": status.status, "report": status.as_json()}


def _follow(
    batch_id: str,
    *,
    timeout: float,
    interval: float,
    json_output: bool,
    ignore_intakes: frozenset[str] = frozenset(),
    on_timeout: Callable[[BatchStatus | None], None] | None = None,
) -> BatchStatus:
    from etl_cli.batch_status import follow_batch, load_batch_status
    from etl_cli.output import status_line

    services = _current().services
    err = stderr_console()

    def load() -> BatchStatus:
        return load_batch_status(
            services.ledger, services.store, batch_id, ignore_intakes=ignore_intakes
        )

    def changed(status: BatchStatus) -> None:
        if not json_output:
            err.print(status_line(status))

    try:
        return follow_batch(load, timeout_s=timeout or None, interval_s=interval, on_change=changed)
    except WaitTimeout as exc:
        if on_timeout is not None:
            on_timeout(exc.last_status)
        raise


@app.command(no_args_is_help=True, epilog=EPILOG)
@_guarded
def submit(
    paths: Annotated[
        list[Path],
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="Files of the batch (one dataset)."
        ),
    ],
    intent: Annotated[
        str,
        typer.Option(
            "--intent",
            "-i",
            help="ingest_vector | ingest_raster | ingest_tabular, or another (legacy) intent.",
        ),
    ],
    file_type: Annotated[
        FileType | None,
        typer.Option("--type", case_sensitive=False, help="File type (default: from intent)."),
    ] = None,
    dataset_id: DatasetIdOption = None,
    batch_id: BatchIdOption = None,
    crs: Annotated[
        str | None, typer.Option("--crs", help="Declare the source CRS, e.g. EPSG:28355.")
    ] = None,
    file_format: Annotated[
        str | None, typer.Option("--format", help="GDAL format when the extension is unusual.")
    ] = None,
    layer: Annotated[str | None, typer.Option("--layer", help="Layer to read (GPKG).")] = None,
    x_column: Annotated[str | None, typer.Option("--x-column", help="CSV points: x.")] = None,
    y_column: Annotated[str | None, typer.Option("--y-column", help="CSV points: y.")] = None,
    wkt_column: Annotated[str | None, typer.Option("--wkt-column", help="CSV: WKT.")] = None,
    delimiter: Annotated[str | None, typer.Option("--delimiter", help="CSV delimiter.")] = None,
    encoding: Annotated[str | None, typer.Option("--encoding", help="Text encoding.")] = None,
    title: TitleOption = None,
    description: DescriptionOption = None,
    project: ProjectOption = None,
    tags: TagOption = None,
    uploader: UploaderOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the batch to its end.")] = False,
    timeout: TimeoutOption = 3600.0,
    interval: IntervalOption = 2.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and print the manifest; upload nothing.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Upload files as a batch (validated first; manifest last) and print the batch id.

    Shapefile sidecars (.shx .dbf .prj .cpg ...) beside a .shp are uploaded too. The file type
    comes from --type, else the intent, else the extension (CSV needs --type with other
    intents). --wait follows the batch: exit 0 on success, 1 on failure/rejection/cancel."""
    from etl_cli.submission import (
        DescriptiveMetadata,
        FileOptionsInput,
        parse_tags,
        plan_submission,
    )

    env = _current().environment
    plan = plan_submission(
        paths,
        intent=intent,
        uploader=_uploader(uploader),
        landing_bucket=env.object_store_settings().landing_bucket,
        file_type=file_type.value if file_type else None,
        dataset_id=dataset_id,
        batch_id=batch_id,
        crs=crs,
        file_format=file_format,
        layer=layer,
        options=FileOptionsInput(delimiter, encoding, x_column, y_column, wkt_column),
        metadata=DescriptiveMetadata(title, description, project, parse_tags(tags)),
    )
    if dry_run:
        _print_dry_run(plan, json_output)
        return
    _deliver(plan, wait=wait, timeout=timeout, interval=interval, json_output=json_output)


def _print_dry_run(plan: SubmissionPlan, json_output: bool) -> None:
    if json_output:
        print_json({**plan.summary(), "manifest": plan.manifest, "dry_run": True})
        return
    err = stderr_console()
    for note in plan.notes:
        err.print(f"[yellow]note:[/] {note}")
    for item in plan.uploads:
        err.print(f"would upload {item.local_path} -> {item.key}")
    err.print(f"would write {plan.manifest_key} (dataset {plan.dataset_id}, lane {plan.lane}):")
    sys.stdout.write(plan.manifest_bytes().decode("utf-8"))


@app.command(no_args_is_help=True, epilog=EPILOG)
@_guarded
def join(
    spatial_dataset: Annotated[str, typer.Argument(help="Spatial dataset, DATASET[@vN].")],
    tabular_dataset: Annotated[str, typer.Argument(help="Tabular dataset, DATASET[@vN].")],
    left_key: Annotated[str, typer.Option("--left-key", help="Key column of the tabular dataset.")],
    right_key: Annotated[
        str | None,
        typer.Option("--right-key", help="Key column of the spatial dataset (default: left key)."),
    ] = None,
    how: Annotated[
        JoinHow, typer.Option("--how", case_sensitive=False, help="Join type (tabular = left).")
    ] = JoinHow.left,
    dataset_id: DatasetIdOption = None,
    batch_id: BatchIdOption = None,
    title: TitleOption = None,
    description: DescriptionOption = None,
    project: ProjectOption = None,
    tags: TagOption = None,
    uploader: UploaderOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the batch to its end.")] = False,
    timeout: TimeoutOption = 3600.0,
    interval: IntervalOption = 2.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and print the manifest; upload nothing.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Submit a join manifest: a tabular dataset joined onto a spatial one.

    A version pinned as DATASET@vN is used as is; otherwise the platform takes the latest.
    Both datasets (and the key columns, when their schema is recorded) are checked first."""
    from etl_cli.catalog import check_join_inputs, parse_dataset_ref
    from etl_cli.submission import DescriptiveMetadata, parse_tags, plan_join

    spatial = parse_dataset_ref(spatial_dataset)
    tabular = parse_dataset_ref(tabular_dataset)
    invocation = _current()
    plan = plan_join(
        spatial_dataset_id=spatial.dataset_id,
        tabular_dataset_id=tabular.dataset_id,
        spatial_version=spatial.version,
        tabular_version=tabular.version,
        left_key=left_key,
        right_key=right_key,
        how=how.value,
        uploader=_uploader(uploader),
        landing_bucket=invocation.environment.object_store_settings().landing_bucket,
        dataset_id=dataset_id,
        batch_id=batch_id,
        metadata=DescriptiveMetadata(title, description, project, parse_tags(tags)),
    )
    if dry_run:
        _print_dry_run(plan, json_output)
        return
    check_join_inputs(invocation.services.ledger, spatial, tabular, left_key, right_key)
    _deliver(plan, wait=wait, timeout=timeout, interval=interval, json_output=json_output)


# --- status ---------------------------------------------------------------------------------


@app.command(no_args_is_help=True, epilog=EPILOG)
@_guarded
def status(
    batch_id: Annotated[str, typer.Argument(help="The batch id printed by `etl submit`.")],
    watch: Annotated[bool, typer.Option("--watch", help="Refresh until the batch ends.")] = False,
    timeout: TimeoutOption = 3600.0,
    interval: IntervalOption = 2.0,
    json_output: JsonOption = False,
) -> None:
    """Ledger status of a batch: history, runs, errors, produced assets.

    Exits 0 while the batch is submitted/queued/running or succeeded, 1 once it failed, was
    rejected or canceled, 3 if the batch is unknown."""
    from etl_cli.batch_status import load_batch_status, require_found
    from etl_cli.output import render_status
    from etl_cli.submission import check_batch_id

    check_batch_id(batch_id, "BATCH_ID")
    services = _current().services
    report = require_found(load_batch_status(services.ledger, services.store, batch_id))
    if watch and not report.terminal:
        report = _follow(
            batch_id,
            timeout=timeout,
            interval=interval,
            json_output=json_output,
            on_timeout=(lambda last: print_json(last.as_json() if last else None))
            if json_output
            else None,
        )
    if json_output:
        print_json(report.as_json())
    else:
        render_status(stdout_console(), report)
    raise typer.Exit(int(report.exit_code))


# --- catalog --------------------------------------------------------------------------------


@app.command(epilog=EPILOG)
@_guarded
def datasets(json_output: JsonOption = False) -> None:
    """Datasets in the lake: latest version, rows, format, last update."""
    from etl_cli.catalog import list_datasets
    from etl_cli.output import number, table

    rows = list_datasets(_current().services.ledger)
    if json_output:
        print_json(rows)
        return
    console = stdout_console()
    if not rows:
        console.print("no datasets yet")
        return
    console.print(
        table(
            None,
            ("dataset", "latest", "versions", "rows", "format", "crs", "updated (UTC)"),
            [
                (
                    r["dataset_id"],
                    f"v{r['latest_version']}",
                    r["version_count"],
                    number(r["row_count"]),
                    r["format"],
                    r["crs"],
                    r["created_at"][:19].replace("T", " "),
                )
                for r in rows
            ],
        )
    )


@app.command(no_args_is_help=True, epilog=EPILOG)
@_guarded
def versions(
    dataset: Annotated[str, typer.Argument(help="Dataset id.")],
    json_output: JsonOption = False,
) -> None:
    """Every version of a dataset."""
    from etl_cli.catalog import asset_summary, list_versions
    from etl_cli.output import human_bytes, number, table, when

    assets = list_versions(_current().services.ledger, dataset)
    if json_output:
        print_json([asset_summary(a) for a in assets])
        return
    stdout_console().print(
        table(
            f"{assets[0].dataset_id}: {len(assets)} version(s)",
            ("version", "rows", "format", "crs", "size", "batch", "created (UTC)", "uri"),
            [
                (
                    f"v{a.version}",
                    number(a.row_count),
                    a.format,
                    a.crs,
                    human_bytes(a.size_bytes),
                    a.batch_id,
                    when(a.created_at),
                    a.uri,
                )
                for a in assets
            ],
        )
    )


@app.command(no_args_is_help=True, epilog=EPILOG)
@_guarded
def lineage(
    dataset: Annotated[str, typer.Argument(help="DATASET or DATASET@vN (default: latest).")],
    json_output: JsonOption = False,
) -> None:
    """Where a version came from (inputs, parents) and what was derived from it."""
    from etl_cli.catalog import lineage_report, parse_dataset_ref, resolve_asset
    from etl_cli.output import number, table

    ledger = _current().services.ledger
    asset = resolve_asset(ledger, parse_dataset_ref(dataset))
    report = lineage_report(ledger, asset)
    if json_output:
        print_json(report)
        return
    console = stdout_console()
    a = report["asset"]
    recipe = report["recipe"]
    console.print(f"[bold]{a['dataset_id']}@v{a['version']}[/]  {a['uri']}")
    console.print(
        f"rows {number(a['row_count'])}  crs {a['crs'] or '-'}  "
        f"recipe {recipe['name']} {recipe['version']}  batch {a['batch_id'] or '-'}"
    )
    console.print(
        table(
            "Inputs",
            ("path", "etag", "size"),
            [(i["path"], i["etag"], number(i["size"])) for i in report["inputs"]],
        )
        if report["inputs"]
        else "Inputs: none recorded"
    )
    console.print(
        table(
            "Parents",
            ("dataset", "role", "uri"),
            [(p["ref"], p["role"], p["uri"]) for p in report["parents"]],
        )
        if report["parents"]
        else "Parents: none"
    )
    console.print(
        table(
            "Children",
            ("dataset", "role", "uri"),
            [(c["ref"], c["role"], c["uri"]) for c in report["children"]],
        )
        if report["children"]
        else "Children: none"
    )


@app.command(no_args_is_help=True, epilog=EPILOG)
@_guarded
def download(
    dataset: Annotated[str, typer.Argument(help="DATASET or DATASET@vN (default: latest).")],
    dest: Annotated[
        Path,
        typer.Argument(help="Directory (existing, or ending in /) or the data file's path."),
    ],
    with_stac: Annotated[
        bool, typer.Option("--with-stac", help="Also download the STAC item.json.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing local files.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Download a version's data file (and with --with-stac its STAC item).

    The object's size and ETag are checked against the ledger before, and the size after."""
    from etl_cli.catalog import download_asset, parse_dataset_ref, plan_download, resolve_asset
    from etl_cli.output import byte_progress

    services = _current().services
    asset = resolve_asset(services.ledger, parse_dataset_ref(dataset))
    files = plan_download(services.store, asset, dest, with_stac=with_stac, overwrite=overwrite)
    total = sum(size for _, _, size in files)
    label = f"{asset.dataset_id}@v{asset.version}"
    with byte_progress(stderr_console(), total, f"downloading {label}") as sink:
        done = download_asset(services.store, files, sink)
    if json_output:
        print_json(
            {
                "dataset_id": asset.dataset_id,
                "version": asset.version,
                "files": [d.as_json() for d in done],
            }
        )
        return
    for d in done:
        typer.echo(str(d.path))


# --- manifest -------------------------------------------------------------------------------


@manifest_app.command("validate", no_args_is_help=True, epilog=EPILOG)
@_guarded
def manifest_validate(
    file: Annotated[
        Path,
        typer.Argument(
            allow_dash=True, help="Manifest JSON file ('-' reads standard input).", dir_okay=False
        ),
    ],
    json_output: JsonOption = False,
) -> None:
    """Validate a manifest file as the platform will (exit 2 with field errors).

    Prints OK with the dataset id and lane the platform will use."""
    from etl_cli.errors import ManifestInvalid
    from etl_cli.manifest_files import read_manifest_file
    from etl_cli.submission import validate_manifest

    landing = _current().environment.object_store_settings().landing_bucket
    source = "standard input" if str(file) == "-" else str(file)
    try:
        data = read_manifest_file(file)
        parsed = validate_manifest(data, landing, source)
    except ManifestInvalid as exc:
        if json_output:
            print_json(
                {
                    "valid": False,
                    "file": source,
                    "errors": [{"field": p.field, "message": p.message} for p in exc.problems],
                }
            )
        else:
            stdout_console().print(exc.message, markup=False)
        raise typer.Exit(int(ExitCode.USAGE)) from None
    from etl_pipeline.lanes.preflight import preflight
    from etl_pipeline.lanes.registry import lane_for_intent

    notes = preflight(parsed).notes
    result = {
        "valid": True,
        "file": source,
        "batch_id": parsed.batch_id,
        "intent": parsed.intent,
        "lane": lane_for_intent(parsed.intent).name,
        "dataset_id": parsed.dataset_id,
        "files": len(parsed.files),
        "warnings": notes,
    }
    if json_output:
        print_json(result)
        return
    typer.echo(
        f"OK  {source}: batch {result['batch_id']} -> dataset {result['dataset_id']} "
        f"(intent {result['intent']}, lane {result['lane']}, {result['files']} file(s))"
    )
    for note in notes:
        typer.echo(f"warning: {note}")


@manifest_app.command("schema", epilog=EPILOG)
@_guarded
def manifest_schema() -> None:
    """Print the published JSON Schema of the manifest."""
    from etl_models.json_schema import manifest_json_schema

    print_json(manifest_json_schema())


def main() -> None:
    """Console-script entry point (``etl``)."""
    app(prog_name="etl")
