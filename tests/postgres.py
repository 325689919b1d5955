"""A throwaway PostgreSQL server for tests: a fresh cluster in a temp directory, on a free
loopback port, owned by the `postgres` user when the tests run as root (PostgreSQL refuses to run
as root, and CI runs as root), torn down afterwards.

Where no server can be had (no binaries under /usr/lib/postgresql/*/bin, no psycopg, no
`postgres` user) the tests that need one skip with the reason; with CI=true they fail instead,
because CI installs PostgreSQL (.ci/run) and a silent skip there would hide a broken path.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL test cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL server for this test: {reason}")


def server_binaries() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin with initdb and pg_ctl (Debian's layout)."""
    candidates = [
        p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists() and (p / "pg_ctl").exists()
    ]

    def version(binaries: Path) -> list[int]:
        return [int(n) for n in re.findall(r"\d+", binaries.parent.name)] or [0]

    return max(candidates, key=version, default=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yields a SQLAlchemy URL (postgresql+psycopg://postgres@127.0.0.1:PORT/postgres)."""
    binaries = server_binaries()
    if binaries is None:
        unavailable("no initdb/pg_ctl under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    if importlib.util.find_spec("psycopg") is None:
        unavailable("psycopg is not installed (pip install -e '.[postgres]')")
    as_user: list[str] = []
    directory = Path(tempfile.mkdtemp(prefix="cockpit-pg-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(directory)
            unavailable("running as root and there is no 'postgres' user to run the server as")
        os.chown(directory, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, log, port = directory / "data", directory / "server.log", free_port()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)

    try:
        init = run(
            str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"
        )
        if init.returncode != 0:
            unavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
        options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        start = run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
        if start.returncode != 0:
            tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
            unavailable(f"pg_ctl start failed: {start.stderr.strip()[-300:]} {tail}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(directory, ignore_errors=True)
