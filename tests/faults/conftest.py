"""Fixtures of the fault suite: databases of its own, a throwaway PostgreSQL cluster, a small
tmpfs. The summary table at the end of the run is tests/faults/summary.py's."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import PG_ADMIN_URL, free_port
from tests.faults.harness import sa_url, unavailable


def _admin_engine(url: str) -> sa.Engine:
    # No pool: a connection kept from before a restart of the cluster would be dead.
    engine = sa.create_engine(sa_url(url), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        unavailable(f"PostgreSQL at {url} is not reachable: {exc}")
    return engine


@contextlib.contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A database of its own on the cluster at ``admin_url``, dropped afterwards (with FORCE:
    a process the test killed may have left a session behind)."""
    admin = _admin_engine(admin_url)
    name = f"kasir_faults_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A database on the shared PostgreSQL (KASIR_TEST_DATABASE_URL), for this test alone. Kasir
    processes migrate it themselves, as they would in production."""
    with scratch_database(PG_ADMIN_URL) as url:
        yield url


# --- a PostgreSQL cluster of our own, to restart ------------------------------------------------

CLUSTER_PREFIX = "kasirfaults_"


@dataclass(frozen=True)
class Cluster:
    version: str
    name: str
    port: int

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, action: str, *options: str) -> None:
        done = subprocess.run(
            ["pg_ctlcluster", *options, self.version, self.name, action],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"pg_ctlcluster {action} failed:\n{done.stdout}\n{done.stderr}"

    def restart(self, mode: str) -> None:
        """``fast`` (the default: sessions are ended cleanly) or ``immediate`` (crash-like: no
        checkpoint, recovery from the WAL at start)."""
        self.ctl("restart", "-m", mode)


def _clusters() -> list[tuple[str, str]]:
    done = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, timeout=60, check=True)
    return [(line.split()[0], line.split()[1]) for line in done.stdout.splitlines() if line.strip()]


def _drop(version: str, name: str) -> None:
    subprocess.run(["pg_dropcluster", "--stop", version, name], capture_output=True, timeout=120, check=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture
def throwaway_cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster made for this test (pg_createcluster), restarted as the test likes,
    dropped at the end. The shared cluster, which other people's tests use, is never touched.
    Clusters left behind by an earlier run that died are dropped first."""
    if os.geteuid() != 0:
        unavailable("restarting PostgreSQL needs a cluster of our own, and pg_createcluster needs root")
    missing = [
        tool
        for tool in ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "pg_lsclusters")
        if not shutil.which(tool)
    ]
    if missing:
        unavailable(f"{', '.join(missing)} not installed (Debian package postgresql-common)")
    existing = _clusters()
    for version, name in existing:
        suffix = name.removeprefix(CLUSTER_PREFIX)
        if name.startswith(CLUSTER_PREFIX) and (
            not suffix.isdigit() or not _pid_alive(int(suffix)) or int(suffix) == os.getpid()
        ):
            _drop(version, name)
    versions = sorted({version for version, _ in existing} or set(os.listdir("/usr/lib/postgresql")), key=float)
    if not versions:
        unavailable("no PostgreSQL server installed")
    cluster = Cluster(versions[-1], f"{CLUSTER_PREFIX}{os.getpid()}", free_port())
    created = subprocess.run(
        [
            "pg_createcluster",
            cluster.version,
            cluster.name,
            "--port",
            str(cluster.port),
            "--start-conf",
            "manual",
            "--",
            "--auth=trust",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if created.returncode != 0:
        _drop(cluster.version, cluster.name)
        unavailable(f"pg_createcluster failed: {created.stderr.strip() or created.stdout.strip()}")
    try:
        cluster.ctl("start")
        yield cluster
    finally:
        _drop(cluster.version, cluster.name)


# --- a small filesystem, to fill up -------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs mounted for this test alone (root only; unmounted at the end)."""
    if os.geteuid() != 0:
        unavailable("a full disk needs a small filesystem of our own, and mounting one needs root")
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs here ({done.stderr.strip()}): the full-disk scenario needs one")
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], capture_output=True, timeout=60, check=False).returncode:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, timeout=60, check=False)
