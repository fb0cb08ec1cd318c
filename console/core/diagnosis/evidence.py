"""The evidence a server holds about a failed run: the shell script that gathers it (HCCL/CANN
plogs and device logs written since the run started, MindIE logs; only ERROR/WARNING/EIxxxx
lines with context; capped) and the parser of its output. Pure.

Output is framed by a random marker a log line cannot fake: ``<marker> file <remote path>``
starts a file's lines.
"""

from __future__ import annotations

import re
import shlex

PER_FILE = 256 * 1024
MAX_FILES = 200
PATTERN = r"ERROR|WARNING|E[IEL][0-9]{4}|Error|error code"
SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def evidence_script(
    marker: str, since_epoch: int, cap_bytes: int, *, log_path: str | None = None, mindie_path: str | None = None
) -> str:
    """POSIX sh: every log file under the CANN and MindIE log folders modified since
    ``since_epoch``, its matching lines with context, at most ``cap_bytes`` in all. The folders
    are ``log_path`` (the job's ASCEND_PROCESS_LOG_PATH) else ``$HOME/ascend/log``, and
    ``mindie_path`` (MINDIE_LOG_PATH) else ``$HOME/mindie/log``."""
    q = shlex.quote
    base = q(log_path) if log_path else '"$HOME/ascend/log"'
    mindie = q(mindie_path) if mindie_path else '"$HOME/mindie/log"'
    return (
        f"m={q(marker)}; b={base}; mi={mindie}\n"
        f'{{ find "$b/debug/plog" "$b/run/plog" "$b"/debug/device-* "$b"/run/device-* "$mi" '
        f"-type f -newermt @{int(since_epoch)} 2>/dev/null | head -n {MAX_FILES} | "
        'while IFS= read -r f; do printf \'%s file %s\\n\' "$m" "$f"; '
        f'grep -a -E -B2 -A10 -- {q(PATTERN)} "$f" 2>/dev/null | head -c {PER_FILE}; echo; done; }} '
        f"| head -c {int(cap_bytes)}\n"
    )


def parse_evidence(marker: str, lines: list[str]) -> dict[str, list[str]]:
    """Remote path -> its lines, from the script's output (lines before the first marker,
    e.g. a login banner, are dropped)."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    head = f"{marker} file "
    for line in lines:
        if line.startswith(head):
            current = out.setdefault(line[len(head) :], [])
        elif current is not None:
            current.append(line)
    return out


def local_name(remote_path: str, index: int) -> str:
    """A safe file name for a remote path: its last two components, sanitised, numbered."""
    parts = [p for p in remote_path.split("/") if p and p not in (".", "..")][-2:]
    name = SAFE.sub("_", "_".join(parts)).strip("._") or "log"
    return f"{index:03d}-{name[:120]}"


def server_folder(server: str) -> str:
    """The folder name of a server's evidence under ``runs/<id>/evidence/``."""
    return SAFE.sub("_", server).strip("._") or "server"
