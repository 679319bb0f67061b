"""Exit codes of ``etl``: one meaning each, so scripts can branch on them."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What an ``etl`` exit status means."""

    OK = 0
    BATCH_FAILED = 1  # the batch ended in failure, was rejected or canceled (--wait, status)
    USAGE = 2  # bad arguments or invalid input (an invalid manifest, a taken batch id)
    NOT_FOUND = 3  # unknown batch, dataset or version
    UNAVAILABLE = 4  # the object store or the ledger cannot be reached (or refuses us)
    TIMEOUT = 5  # --wait / --watch gave up before the batch ended
    INTEGRITY = 6  # a download does not match what the ledger recorded
    INTERRUPTED = 130  # Ctrl-C
    INTERNAL = 70  # a bug in etl itself (ETL_CLI_DEBUG=1 shows the traceback)


EXIT_CODE_HELP: tuple[tuple[ExitCode, str], ...] = (
    (ExitCode.OK, "success (for status/--wait: the batch is queued, running or succeeded)"),
    (ExitCode.BATCH_FAILED, "the batch failed, was rejected or was canceled"),
    (ExitCode.USAGE, "bad arguments or invalid input (field-level errors are printed)"),
    (ExitCode.NOT_FOUND, "unknown batch, dataset or version"),
    (ExitCode.UNAVAILABLE, "object store or ledger unreachable"),
    (ExitCode.TIMEOUT, "timed out waiting for the batch"),
    (ExitCode.INTEGRITY, "downloaded file does not match the ledger"),
    (ExitCode.INTERNAL, "internal error (set ETL_CLI_DEBUG=1 for the traceback)"),
)


def exit_code_table() -> str:
    """The exit codes as lines of text, for ``etl --help`` and the README."""
    return "\n".join(f"{int(code)}  {text}" for code, text in EXIT_CODE_HELP)


def meaning(code: int) -> str:
    """What exit status ``code`` means, in words (for ``--json`` error objects)."""
    for known, text in EXIT_CODE_HELP:
        if int(known) == code:
            return text
    return "interrupted" if code == int(ExitCode.INTERRUPTED) else "unknown exit code"
