"""PostgreSQL (Airflow's metadata DB) and Redis (the Celery broker), each a private instance.

Both come from Debian packages (``postgresql``, ``redis-server``) but run from our own files under
``$SIGNBRIDGE_HOME/cluster``: a PostgreSQL data directory made with ``initdb`` and a Redis config,
listening on 127.0.0.1 only with generated passwords. PostgreSQL refuses to run as root, so when
we are root it runs as the ``postgres`` system user (which owns its data directory).
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from signbridge import processes
from signbridge.cluster import procs
from signbridge.errors import ConfigError, SignBridgeError

DEBIAN_PACKAGES = "postgresql redis-server"
DB_USER = "airflow"
DB_NAME = "airflow"


def _missing(what: str, binary: str) -> ConfigError:
    return ConfigError(f"{what} is not installed (`{binary}` not found)",
                       hint=f"install the Debian packages: apt-get install -y {DEBIAN_PACKAGES} "
                            "(./sb setup installs them when run as root)")


def pg_binary(name: str) -> str:
    """``initdb``/``postgres``: on PATH, else Debian's /usr/lib/postgresql/<newest>/bin."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if versions:
        return versions[-1]
    raise _missing("the PostgreSQL server", name)


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise _missing("Redis", "redis-server")
    return found


def run_as_user() -> str | None:
    """The system user PostgreSQL runs as: ``postgres`` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ConfigError("PostgreSQL cannot run as root and there is no `postgres` system user",
                          hint=f"install the Debian package (apt-get install -y {DEBIAN_PACKAGES}), which creates it") \
            from None
    return "postgres"


def _can_write(user: str, folder: Path) -> bool:
    return subprocess.run(["/bin/sh", "-c", 'test -w "$1" && test -x "$1"', "sh", str(folder)], user=user).returncode == 0


@dataclass
class Postgres:
    dir: Path          # $SIGNBRIDGE_HOME/cluster/postgres
    port: int
    password: str

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def log_path(self) -> Path:
        return self.dir / "postgres.log"

    def url(self, driver: str = "postgresql+psycopg2", db: str = DB_NAME) -> str:
        from urllib.parse import quote

        return f"{driver}://{DB_USER}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{db}"

    def init(self) -> None:
        """``initdb`` once: superuser ``airflow`` with the generated password, password auth only."""
        if (self.data / "PG_VERSION").is_file():
            return
        user = run_as_user()
        self.dir.mkdir(parents=True, exist_ok=True)
        target = self._reachable_data_dir(user) if user else self.data
        pwfile = target.parent / ".pwfile"
        pwfile.write_text(self.password + "\n")
        os.chmod(pwfile, 0o600)
        try:
            if user:
                shutil.chown(pwfile, user, user)
            res = subprocess.run([pg_binary("initdb"), "-D", str(target), "-U", DB_USER, "--pwfile", str(pwfile),
                                  "--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C"],
                                 user=user, capture_output=True, text=True, cwd="/")
            if res.returncode != 0:
                tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-4:])
                raise SignBridgeError(f"initdb failed for {target}", hint=tail)
        finally:
            pwfile.unlink(missing_ok=True)

    def _reachable_data_dir(self, user: str) -> Path:
        """Where ``user`` can create the data directory: under our home when it can reach it; a private home
        (the default one under /root) is not, so then the data goes under that user's own home
        (``/var/lib/postgresql/signbridge-<hash of our folder>``) with a link to it at ``postgres/data``."""
        import hashlib
        import pwd

        shutil.chown(self.dir, user, user)
        if _can_write(user, self.dir):
            return self.data
        tag = hashlib.sha256(str(self.dir).encode()).hexdigest()[:12]
        outside = Path(pwd.getpwnam(user).pw_dir) / f"signbridge-{tag}"
        outside.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.chown(outside, user, user)
        if not _can_write(user, outside):
            raise ConfigError(f"the `{user}` system user can write neither {self.dir} nor {outside}",
                              hint="PostgreSQL runs as that user: make the folders above SIGNBRIDGE_HOME traversable "
                                   "(chmod o+x) or set SIGNBRIDGE_HOME to a folder it can reach")
        if self.data.is_symlink():
            self.data.unlink()
        self.data.symlink_to(outside / "data")
        return outside / "data"

    def start(self, env: dict[str, str]) -> int:
        cmd = [pg_binary("postgres"), "-D", str(self.data.resolve()), "-c", "listen_addresses=127.0.0.1", "-c",
               f"port={self.port}", "-c", "unix_socket_directories=", "-c", "max_connections=200"]
        user = run_as_user()
        if user:
            self.log_path.touch()
            shutil.chown(self.log_path, user, user)
        return procs.spawn(cmd, env, self.log_path, user=user, cwd=Path("/"))

    def connect(self, db: str = DB_NAME):
        import psycopg2

        return psycopg2.connect(host="127.0.0.1", port=self.port, user=DB_USER, password=self.password, dbname=db,
                                connect_timeout=3)

    def healthy(self) -> bool:
        con = self.connect("postgres")
        try:
            with con.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone() == (1,)
        finally:
            con.close()

    def ensure_database(self) -> None:
        con = self.connect("postgres")
        try:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{DB_NAME}"')
        finally:
            con.close()

    @staticmethod
    def stop(pid: int, started: float | None) -> bool:
        # SIGINT is PostgreSQL's "fast" shutdown: clients are disconnected, not waited for
        return bool(processes.stop(pid, started, sig=signal.SIGINT, grace=30))


@dataclass
class Redis:
    dir: Path          # $SIGNBRIDGE_HOME/cluster/redis
    port: int
    password: str

    @property
    def log_path(self) -> Path:
        return self.dir / "redis.log"

    def url(self, db: int = 0) -> str:
        from urllib.parse import quote

        return f"redis://:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{db}"

    def start(self, env: dict[str, str]) -> int:
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "redis.conf"
        conf.touch(mode=0o600)
        os.chmod(conf, 0o600)
        # the broker holds only queued task messages: no snapshots, no append-only file
        conf.write_text("\n".join([
            "bind 127.0.0.1", f"port {self.port}", "protected-mode yes", "daemonize no", f'dir "{self.dir}"',
            'save ""', "appendonly no", f'requirepass "{self.password}"', "loglevel notice", ""]))
        return procs.spawn([redis_binary(), str(conf)], env, self.log_path)

    def healthy(self) -> bool:
        import redis

        r = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_connect_timeout=2,
                        socket_timeout=2)
        try:
            return bool(r.ping())
        finally:
            r.close()

    @staticmethod
    def stop(pid: int, started: float | None) -> bool:
        return bool(processes.stop(pid, started, grace=15))
