"""What a host agent may say: the frames of the agent channel, checked before use.

Anything a server prints is untrusted: a login script can print ``1024`` on the agent's
channel before the agent starts, and a broken or hostile agent can send any JSON.
``check_frame`` accepts only a JSON object whose ``t`` is a known frame type, with the
fields that type needs, of the right JSON types, and (for rank frames) a rank id of that
server; everything else is a problem text, never an exception.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection
from typing import Any


def _num(v: Any) -> bool:
    """A finite JSON number (``json.loads`` accepts NaN and Infinity: refused here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _opt(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _str(v: Any) -> bool:
    return isinstance(v, str)


#: frame type -> {field: check}; missing optional fields arrive as None.
FRAMES: dict[str, dict[str, Callable[[Any], bool]]] = {
    "hello": {},
    "pong": {"c": _num, "a": _num},
    "spawned": {"rank": _int, "pid": _opt(_int)},
    "ready": {},
    "go": {"late": _num},
    "started": {"rank": _int, "ts": _num, "pid": _opt(_int)},
    "woke": {"rank": _int, "ts": _num},
    "line": {"rank": _int, "s": lambda v: v in ("o", "e"), "x": _str},
    "exit": {"rank": _int, "code": _opt(_int), "sig": _opt(_int)},
    "stopping": {"reason": _opt(_str)},
    "error": {"msg": _str},
    "refused": {"msg": _str},
    "swept": {"n": _opt(_int)},
    "cleaned": {"dir": _opt(_str), "error": _opt(_str)},
    "bye": {},
}


def check_frame(line: str, ranks: Collection[int]) -> tuple[dict[str, Any], str | None]:
    """(the frame, None) or ({}, what is wrong with the line). ``ranks``: that server's."""
    try:
        msg = json.loads(line)
    except ValueError:
        return {}, "not JSON"
    if not isinstance(msg, dict):
        return {}, f"JSON {type(msg).__name__}, not an object"
    kind = msg.get("t")
    fields = FRAMES.get(kind) if isinstance(kind, str) else None
    if fields is None:
        return {}, f"unknown frame type {kind!r}"
    for name, ok in fields.items():
        if not ok(msg.get(name)):
            return {}, f"{kind} frame with a bad {name!r}"
    if "rank" in fields and msg["rank"] not in ranks:
        return {}, f"{kind} frame for rank {msg['rank']}, which this server does not run"
    return msg, None
