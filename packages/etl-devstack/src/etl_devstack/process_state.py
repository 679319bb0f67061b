"""Bookkeeping of a stack's processes: recorded components, pid files, the state marker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from etl_devstack.stack_config import STATE_MARKER_ENV


@dataclass(frozen=True)
class Component:
    """A process of the stack as recorded in the state file."""

    name: str
    host: str
    port: int | None
    log: str

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}" if self.port is not None else "-"


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    endpoint: str
    pid: int | None
    running: bool
    port_open: bool | None

    @property
    def up(self) -> bool:
        return self.running and self.port_open is not False


@dataclass(frozen=True)
class RunOutcome:
    """A job run launched through the webserver."""

    location: str
    job: str
    run_id: str
    status: str
    errors: tuple[str, ...] = ()


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _process_has_marker(pid: int, state_dir: Path) -> bool:
    """Whether ``pid`` is a live process of the stack in ``state_dir`` (guards pid reuse)."""
    marker = f"{STATE_MARKER_ENV}={state_dir}".encode()
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return marker in environ.split(b"\0")


def stack_processes(state_dir: Path) -> list[int]:
    """Pids of every live process carrying the state marker of ``state_dir``."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    return [
        int(entry.name)
        for entry in proc.iterdir()
        if entry.name.isdigit() and _process_has_marker(int(entry.name), state_dir)
    ]
