"""Real Redis and PostgreSQL servers for the test suite, started from the machine's binaries."""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout}s")


@contextmanager
def redis_server():
    """A throw-away redis-server on a free port; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server não encontrado: rode `make setup` (instala o pacote redis-server).")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="rpa-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir, "--maxmemory-policy", "noeviction", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def _pg_bin(name: str) -> str:
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} (PostgreSQL) não encontrado: rode `make setup`.")
    return found


def _as_postgres_user(cmd):
    """PostgreSQL refuses to run as root: drop to the 'postgres' system user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextmanager
def postgres_server():
    """A throw-away PostgreSQL cluster on a free port; yields a SQLAlchemy URL."""
    port = free_port()
    datadir = tempfile.mkdtemp(prefix="rpa-pg-")
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(datadir, pw.pw_uid, pw.pw_gid)
    subprocess.run(_as_postgres_user([_pg_bin("initdb"), "-D", datadir, "-U", "postgres", "-A", "trust",
                                      "-E", "UTF8", "--no-sync"]), check=True, stdout=subprocess.DEVNULL)
    log = os.path.join(datadir, "server.log")
    opts = (f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=300")
    subprocess.run(_as_postgres_user([_pg_bin("pg_ctl"), "-D", datadir, "-o", opts, "-l", log, "-w", "start"]),
                   check=True, stdout=subprocess.DEVNULL)
    try:
        subprocess.run(_as_postgres_user([_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                                          "rpa_test"]), check=True)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/rpa_test"
    finally:
        subprocess.run(_as_postgres_user([_pg_bin("pg_ctl"), "-D", datadir, "-m", "immediate", "-w", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(datadir, ignore_errors=True)
