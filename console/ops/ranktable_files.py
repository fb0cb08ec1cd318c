"""Rank-table files on local disk: read/load, and atomic save (mode 0640, previous kept as FILE.bak).

MindIE refuses a rank table whose mode is not 640 (unless MINDIE_CHECK_INPUTFILES_PERMISSION=0),
and a launch that reads a half-written file fails in confusing ways, so saving writes a temp file
in the same folder, fsyncs it, renames it over the target and fsyncs the folder.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path

from console.core.errors import InputError
from console.core.ranktable import RankTable, dumps, loads

FILE_MODE = 0o640
MAX_FILE_BYTES = 64 << 20
"""Rank tables larger than this are refused unread (bounded reads of untrusted input)."""


def read(path: str | os.PathLike[str]) -> tuple[bytes, RankTable]:
    """Read a rank table once: the exact bytes (what a launch uploads) and the table parsed
    from those same bytes. Every failure is an InputError naming the file."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InputError("rank table file not found", path=str(p)) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a rank table file", path=str(p)) from None
    except OSError as exc:
        raise InputError("cannot read the rank table", exc.strerror or str(exc), path=str(p)) from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError("not a rank table: file too large", f"more than {MAX_FILE_BYTES >> 20} MiB "
                         "(a 512-server table is about 0.3 MiB)", path=str(p))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=str(p)) from None
    return data, loads(text, source=str(p))


def load(path: str | os.PathLike[str]) -> RankTable:
    """Read and parse a rank table; every failure is an InputError naming the file."""
    return read(path)[1]


def save(table: RankTable, path: str | os.PathLike[str]) -> str:
    """Write ``table`` atomically in canonical form; returns the sha256 of the written bytes.

    A symlink is followed (the link stays, its target is replaced). An existing file is kept
    as ``FILE.bak``.
    """
    content = dumps(table).encode("utf-8")
    write_bytes_atomic(path, content, backup=True)
    return hashlib.sha256(content).hexdigest()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, mode: int = FILE_MODE, *,
                       backup: bool = False) -> None:
    """Put ``data`` at ``path`` all at once: a temp file in the same folder (``mode`` from the
    start, fsynced) renamed over the target, then the folder fsynced. A symlink is followed;
    ``backup`` keeps an existing file as ``FILE.bak``. Failures are InputErrors naming the file."""
    target = Path(os.path.realpath(path))
    folder = target.parent
    if not folder.is_dir():
        raise InputError("folder does not exist", path=str(folder))
    if target.is_dir():
        raise InputError("is a directory, not a rank table file", path=str(path))
    try:
        _write_atomically(target, data, mode, backup)
    except OSError as exc:
        raise InputError("cannot write the rank table", exc.strerror or str(exc), path=str(path)) from None


def _write_atomically(target: Path, content: bytes, mode: int, backup: bool) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        if backup and target.exists():
            _keep_backup(target)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _keep_backup(target: Path) -> None:
    """FILE -> FILE.bak, atomically: a hard link to the current file (copy where links fail)."""
    backup = target.with_name(target.name + ".bak")
    tmp = target.parent / f".{backup.name}.{secrets.token_hex(6)}.tmp"
    try:
        try:
            os.link(target, tmp)
        except OSError:
            shutil.copy2(target, tmp)
        os.replace(tmp, backup)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
