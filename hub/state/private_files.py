"""The hub's files at rest are its own user's alone: the data directory (and any
directory the hub makes for its state) 0700; the SQLite database, key files and the
endpoints file 0600. They hold pseudonymised case data, keys and the hub's addresses:
nobody else on the machine needs to read them.

Files are created with these modes (``os.open``, ``mkdir(mode=)``), so there is no
moment they are readable by others; what an older hub or a copy left looser is
tightened at start, with a log line that says so.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from hub.logs import get_logger

DIR_MODE = 0o700
FILE_MODE = 0o600
PASSABLE_MODE = 0o711
_OTHERS = 0o077
log = get_logger(__name__)


def make_private_dir(path: Path) -> Path:
    """``path`` as a directory; made 0700 when missing (its missing parents too)."""
    for missing in reversed([p for p in (path, *path.parents) if not p.exists()]):
        missing.mkdir(mode=DIR_MODE, exist_ok=True)
    return path


def tighten(path: Path) -> None:
    """Take away what group and others may do with ``path``, logging it when there was
    anything to take. A file the hub may not change (a read-only secret mount) is left
    as it is, with a warning: the hub still starts."""
    if path.is_symlink():
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & _OTHERS:
        return
    try:
        path.chmod(mode & ~_OTHERS)
    except OSError as error:
        log.warning("file_mode_not_tightened", path=str(path), mode=oct(mode), error=error.strerror)
        return
    log.warning("file_mode_tightened", path=str(path), was=oct(mode), now=oct(mode & ~_OTHERS))


def passable(path: Path, why: str) -> None:
    """``path`` (a directory) 0711: another system user may pass through it to what it
    owns inside, but not list or read it. Only for a server that may not run as root
    (the embedded PostgreSQL under a root hub): its wheel opens every directory above
    its data to 0755, and this narrows the hub's own back."""
    path.chmod(PASSABLE_MODE)
    log.info("data_dir_passable", path=str(path), mode=oct(PASSABLE_MODE), why=why)


def private_file(path: Path) -> Path:
    """``path`` as a file only its owner reads: made empty and 0600 when missing (SQLite
    takes an empty file as a new database, and gives its WAL the same mode), tightened
    when it is there already."""
    make_private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        tighten(path)
    return path


def write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` to a 0600 file; replaced atomically, or, when ``exclusive``, only
    made where there is none (FileExistsError otherwise)."""
    make_private_dir(path.parent)
    target = path if exclusive else path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    if not exclusive:
        os.replace(target, path)


def secure_data_dir(data_dir: Path, *, keep_passable: bool = False) -> Path:
    """The data directory made or tightened to 0700, and everything directly in it (the
    database and its WAL, key files, the endpoints file, the embedded PostgreSQL and
    Kafka directories) to owner-only: ``hub up`` runs this before it writes anything.
    ``keep_passable``: the embedded PostgreSQL will need the directory 0711 again
    (:func:`passable`), so a directory that is exactly that is left so, rather than
    tightened and loosened with a warning at every start."""
    make_private_dir(data_dir)
    if not (keep_passable and stat.S_IMODE(data_dir.stat().st_mode) == PASSABLE_MODE):
        tighten(data_dir)
    for entry in sorted(data_dir.iterdir()):
        if entry.is_symlink() or not (entry.is_file() or entry.is_dir()):
            continue
        tighten(entry)
    return data_dir
