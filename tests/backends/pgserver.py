"""A throwaway PostgreSQL server (Debian's ``postgresql`` package, which ``make test``
installs): a fresh data directory in a temporary folder, a free port of 127.0.0.1, run as
the ``postgres`` user when we are root (PostgreSQL refuses root), trust authentication,
fsync off; stopped and removed on exit. Used by tests/backends and the backend benchmark.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class NoServerError(RuntimeError):
    pass


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise NoServerError("no PostgreSQL server (Debian's postgresql package); run `make test`")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(*settings: str) -> Iterator[str]:
    """A server with database ``almen``; yields its URL. ``settings``: extra
    ``name=value`` server settings."""
    bindir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="almen-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True,  # noqa: E731
                                      capture_output=True, text=True)  # fmt: skip
    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
        "--encoding=UTF8", "--locale=C")  # fmt: skip
    port = _free_port()
    extra = [a for s in settings for a in ("-c", s)]
    server = subprocess.Popen(
        [*as_user, str(bindir / "postgres"), "-D", str(data), "-p", str(port),
         "-c", "listen_addresses=127.0.0.1", "-k", str(root), "-c", "fsync=off", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            ready = subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p",
                                    str(port)], capture_output=True)  # fmt: skip
            if ready.returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise NoServerError("PostgreSQL did not start")
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
            "almen")  # fmt: skip
        yield f"postgres://postgres@127.0.0.1:{port}/almen"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
