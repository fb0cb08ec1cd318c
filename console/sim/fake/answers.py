"""Pre-rendered answers of the fake tools' STATIC queries: the launchers' fast path.

Real ``hccn_tool`` / ``npu-smi`` are compiled binaries that answer in a millisecond; the fake
ones pay ~12 ms of CPU for Python start-up on every call, which would make a benchmark
measure the simulator rather than the console. So when the simulator writes a server's root
it runs this module once (``python -I -S answers.py``, JSON on stdin: a list of
``[state_path, answers_dir]``): for every static query it calls the tools' own ``main`` with
stdout captured and writes the bytes to ``answers_dir/<tool>/<exit status>/<key>``; the POSIX
sh launchers (``console/sim/state.py``) ``cat`` that file when it exists for exactly their
arguments and run the Python tool otherwise. The answers are the Python tool's own output,
so the two paths cannot disagree.

Keys: hccn_tool ``<id><args>`` (``3-ip-g``, ``3-ip-inet6-g``) for the valid device ids, and
``<id>`` alone for an invalid id (its answer does not depend on the command); npu-smi
``info``, ``info-l``, ``info-m``. Servers with a dynamic fault the tool itself plays (busy
counter, hang) get no answers at all: every call of theirs runs the Python tool. Pings are
never pre-rendered (they depend on the peer, loss faults and take time).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys

import ccsim
import hccn_tool
import npu_smi

HCCN_QUERIES: tuple[tuple[str, ...], ...] = (
    ("-ip", "-g"), ("-ip", "-inet6", "-g"), ("-vnic", "-g"), ("-link", "-g"),
    ("-net_health", "-g"), ("-tls", "-g"), ("-gateway", "-g"), ("-netdetect", "-g"),
    ("-lldp", "-g"), ("-link_stat", "-g"),
)
NPU_QUERIES: tuple[tuple[str, ...], ...] = (("info",), ("info", "-l"), ("info", "-m"))
# Every id the launcher's ``[0-9]|[0-9][0-9]`` pattern lets through to a file lookup.
DEVICE_ARGS = tuple(str(n) for n in range(100)) + tuple(f"0{n}" for n in range(10))


def render(main, argv: list[str], state_path: str) -> tuple[int, str] | None:
    """(exit status, stdout) of one tool call, or None when it cannot be served from a file
    (an exception, an unusual status, non-ASCII text whose bytes would depend on the locale)."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            rc = main(argv, state_path)
    except Exception:  # the Python tool would print a traceback: leave that call to it
        return None
    text = buf.getvalue()
    if rc not in (0, 1) or not text.isascii():
        return None
    return rc, text


def hccn_answers(state: dict, state_path: str) -> dict[str, tuple[int, str] | None]:
    answers: dict[str, tuple[int, str] | None] = {}
    for arg in DEVICE_ARGS:
        dev = hccn_tool._device_id(arg, state["product"])
        if dev is None:
            answers[arg] = render(hccn_tool.main, ["-i", arg, "-link", "-g"], state_path)
        elif arg == str(dev):  # canonical spelling only; "03" is left to the Python tool
            for query in HCCN_QUERIES:
                answers[arg + "".join(query)] = render(hccn_tool.main, ["-i", arg, *query],
                                                       state_path)
    return answers


def npu_answers(state_path: str) -> dict[str, tuple[int, str] | None]:
    return {"".join(q): render(npu_smi.main, list(q), state_path) for q in NPU_QUERIES}


def write(folder: str, answers: dict[str, tuple[int, str] | None]) -> None:
    """One file per answer; identical answers (every invalid device id) are hard links."""
    written: dict[tuple[int, str], str] = {}
    for key, answer in answers.items():
        if answer is None:
            continue
        rc, text = answer
        path = os.path.join(folder, str(rc), key)
        if answer in written:
            os.link(written[answer], path)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(text.encode("ascii"))
        written[answer] = path


def write_server(state_path: str, answers_dir: str) -> None:
    cache: dict[str, dict] = {}
    real_load = ccsim.load

    def load_once(path: str) -> dict:  # one parse per server, not one per query
        if path not in cache:
            cache[path] = real_load(path)
        return cache[path]

    ccsim.load = load_once
    try:
        state = ccsim.load(state_path)
        write(os.path.join(answers_dir, "npu-smi"), npu_answers(state_path))
        if state.get("busy", 0) > 0 or state.get("hang"):
            return  # the tool itself plays these faults: no hccn_tool answers for this server
        write(os.path.join(answers_dir, "hccn_tool"), hccn_answers(state, state_path))
    finally:
        ccsim.load = real_load


def main() -> int:
    for state_path, answers_dir in json.load(sys.stdin):
        write_server(state_path, answers_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
