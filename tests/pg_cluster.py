"""A throwaway PostgreSQL cluster from the machine's server binaries (initdb, pg_ctl), listening
only on a Unix socket in a temporary folder, removed when done. The PostgreSQL tests and
``bench/pipeline_bench.py`` share it, so both start the server the same way."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["ClusterUnavailable", "PgCluster"]


class ClusterUnavailable(RuntimeError):
    """This machine cannot start a server: no binaries, or root without a postgres user."""


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin")) if Path("/usr/lib/postgresql").exists() else []
    return str(versions[-1] / name) if versions and (versions[-1] / name).exists() else None


def _free_port() -> int:
    # Only names the socket file (.s.PGSQL.<port>): the server listens on no TCP address.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """``with PgCluster() as pg: pg.url`` — a SQLAlchemy URL for the ``postgres`` database.

    fsync is off: a benchmark or test cluster holds nothing worth a power cut, and fsync would
    measure the disk, not the store.
    """

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not self.initdb or not self.pg_ctl:
            raise ClusterUnavailable("no PostgreSQL server binaries on this machine")
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # the server refuses to run as root
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise ClusterUnavailable("running as root and there is no postgres user to run the server as") from None
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.base: Path | None = None
        self.url = ""
        self.env = {**os.environ, "LC_ALL": "C"}

    @property
    def data(self) -> Path:
        assert self.base is not None
        return self.base / "data"

    def start(self) -> PgCluster:
        self.base = Path(tempfile.mkdtemp(prefix="rcm-pg-"))
        if self.prefix:
            shutil.chown(self.base, "postgres")
        port = _free_port()
        subprocess.run([*self.prefix, self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                        "--locale=C", "--no-sync"], check=True, capture_output=True, env=self.env)
        subprocess.run([*self.prefix, self.pg_ctl, "-D", str(self.data), "-l", str(self.base / "log"), "-w", "-o",
                        f"-p {port} -k {self.base} -c listen_addresses='' -c fsync=off", "start"],
                       check=True, capture_output=True, env=self.env)
        self.url = f"postgresql+psycopg://postgres@/postgres?host={self.base}&port={port}"
        return self

    def postmaster_pid(self) -> int:
        """The server's main process (its reaped backends' CPU adds to its own ``cutime``)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        if self.base is None:
            return
        subprocess.run([*self.prefix, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True, env=self.env)
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
