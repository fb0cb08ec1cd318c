"""Rank-table files on local disk: read/load, and atomic save (mode 0640, previous kept as FILE.bak).

MindIE refuses a rank table whose mode is not 640 (unless MINDIE_CHECK_INPUTFILES_PERMISSION=0),
and a launch that reads a half-written file fails in confusing ways, so saving writes a temp file
in the same folder, fsyncs it, renames it over the target and fsyncs the folder
(``console.ops.safefiles``, which also refuses a stranger's symlink).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from console.core.errors import InputError
from console.core.ranktable import RankTable, dumps, loads
from console.ops import safefiles

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
        raise InputError(
            "not a rank table: file too large",
            f"more than {MAX_FILE_BYTES >> 20} MiB (a 512-server table is about 0.3 MiB)",
            path=str(p),
        )
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

    A symlink is followed (the link stays, its target is replaced), unless it is another
    user's link in a sticky or world-writable folder (``safefiles.UnsafePath``). An existing
    file is kept as ``FILE.bak``.
    """
    content = dumps(table).encode("utf-8")
    write_bytes_atomic(path, content, backup=True)
    return hashlib.sha256(content).hexdigest()


def write_bytes_atomic(
    path: str | os.PathLike[str], data: bytes, mode: int = FILE_MODE, *, backup: bool = False
) -> None:
    """Put ``data`` at ``path`` all at once (``console.ops.safefiles.write_atomic``): a temp
    file in the same folder (``mode`` from the start, fsynced) renamed over the target, then
    the folder fsynced. A symlink is followed unless another user planted it in a shared
    folder (refused); ``backup`` keeps an existing file as ``FILE.bak``. Failures are
    InputErrors naming the file."""
    safefiles.write_atomic(path, data, mode, backup=backup, what="rank table file")
