"""One command run: its environment and services, and the guard that turns errors into exits.

Every command runs under :func:`guarded`, which turns known errors into a readable message on
stderr (or, with ``--json``, a JSON object on stdout) and the documented exit code, never a
traceback.
"""

from __future__ import annotations

import contextvars
import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from etl_cli.environment import CliEnvironment, load_environment
from etl_cli.errors import CliError, ServiceNames, redact, translate_exception
from etl_cli.exit_codes import ExitCode, meaning
from etl_cli.output import print_json, stderr_console

if TYPE_CHECKING:
    from etl_cli.connections import Services

F = TypeVar("F", bound=Callable[..., Any])

_invocation: contextvars.ContextVar[Invocation | None] = contextvars.ContextVar(
    "etl_invocation", default=None
)


class Invocation:
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


def current() -> Invocation:
    """The running command's invocation (a fresh one outside a guarded command)."""
    invocation = _invocation.get()
    if invocation is None:  # called outside a guarded command (tests calling helpers)
        invocation = Invocation()
        _invocation.set(invocation)
    return invocation


def error_fields(error: CliError, secrets: list[str] = ()) -> dict[str, object]:
    """The JSON form of an error: ``error``, ``hint``, ``exit_code`` and its ``meaning``."""
    code = int(error.exit_code)
    return {
        "error": redact(error.message, secrets),
        "hint": redact(error.hint, secrets) if error.hint else None,
        "exit_code": code,
        "meaning": meaning(code),
    }


def report(error: CliError, secrets: list[str], json_output: bool) -> None:
    """Print ``error``: a JSON object on stdout for ``--json``, else a message on stderr."""
    if json_output:
        print_json(error_fields(error, secrets))
        return
    message = redact(error.message, secrets)
    hint = redact(error.hint, secrets) if error.hint else None
    console = stderr_console()
    console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    if hint:
        console.print(f"[dim]hint:[/] {hint}", markup=True, highlight=False)


def guarded(func: F) -> F:
    """Run a command; known errors become a message and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        invocation = Invocation()
        token = _invocation.set(invocation)
        json_output = bool(kwargs.get("json_output"))
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
            if not getattr(error, "reported", False):
                report(error, secrets, json_output)
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
