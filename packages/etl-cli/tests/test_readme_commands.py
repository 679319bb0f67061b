"""The README's `etl` examples work as typed from a fresh shell: `./etl` needs nothing on the
PATH, every example names a real command with real options, and the read-only ones run
verbatim against the test services."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
# Run verbatim against the services (they only read, and need nothing to exist).
READ_ONLY = {"--help", "datasets", "batches"}


def readme_examples() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The `etl` command", 1)[1].split("\n## ", 1)[0]
    examples = []
    for line in section.splitlines():
        if line.startswith("./etl"):
            examples.append(shlex.split(line, comments=True))
    return examples


def fresh_env(**extra: str) -> dict[str, str]:
    """A login-like environment: system PATH only (no venv, no uv), no platform settings."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_readme_examples_exist_and_parse():
    examples = readme_examples()
    assert len(examples) >= 10 and all(e[0] == "./etl" for e in examples)
    env = fresh_env(ETL_PLATFORM_ENV=os.devnull)
    helps: dict[tuple[str, ...], str] = {}
    for example in examples:
        words = [w for w in example[1:] if not w.startswith("-")]
        command = tuple(words[:2]) if words[:1] == ["manifest"] else tuple(words[:1])
        if command not in helps:
            shown = run(["./etl", *command, "--help"], env)
            assert shown.returncode == 0, (example, shown.stderr)
            helps[command] = shown.stdout
        for option in (w.split("=")[0] for w in example[1:] if w.startswith("-")):
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", helps[command]), (
                f"README example {' '.join(example)!r}: {option} is not an option of "
                f"`etl {' '.join(command)}`"
            )


def test_read_only_examples_run_verbatim_from_a_fresh_shell(cli_env, ledger, tmp_path):
    env_file = tmp_path / "platform.env"
    keys = (
        "MINIO_ENDPOINT",
        "MINIO_ROOT_USER",
        "MINIO_ROOT_PASSWORD",
        "MINIO_SECURE",
        "LANDING_BUCKET",
        "LAKE_BUCKET",
        "MONGO_CONNECTION_STRING",
        "MONGO_DATABASE",
    )
    env_file.write_text("".join(f"{k}={os.environ[k]}\n" for k in keys))
    env = fresh_env(ETL_PLATFORM_ENV=str(env_file))
    ran = 0
    for example in readme_examples():
        if example[1] not in READ_ONLY:
            continue
        result = run(example, env)
        assert result.returncode == 0, (example, result.stderr)
        ran += 1
    assert ran == len(READ_ONLY)
    assert run(["./etl", "datasets"], env).stdout.strip() == "no datasets yet"
