"""Rank-table files on local disk: load, and atomic save (mode 0640, previous kept as FILE.bak).

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


def load(path: str | os.PathLike[str]) -> RankTable:
    """Read and parse a rank table; every failure is an InputError naming the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("rank table file not found", path=str(p)) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a rank table file", path=str(p)) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=str(p)) from None
    except OSError as exc:
        raise InputError("cannot read the rank table", exc.strerror or str(exc), path=str(p)) from None
    return loads(text, source=str(p))


def save(table: RankTable, path: str | os.PathLike[str]) -> str:
    """Write ``table`` atomically in canonical form; returns the sha256 of the written bytes.

    A symlink is followed (the link stays, its target is replaced). An existing file is kept
    as ``FILE.bak``.
    """
    content = dumps(table).encode("utf-8")
    target = Path(os.path.realpath(path))
    folder = target.parent
    if not folder.is_dir():
        raise InputError("folder does not exist", path=str(folder))
    if target.is_dir():
        raise InputError("is a directory, not a rank table file", path=str(path))
    try:
        _write_atomically(target, content)
    except OSError as exc:
        raise InputError("cannot write the rank table", exc.strerror or str(exc), path=str(path)) from None
    return hashlib.sha256(content).hexdigest()


def _write_atomically(target: Path, content: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), FILE_MODE)
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        if target.exists():
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
