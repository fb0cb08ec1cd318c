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
counter, hang) get no answers at all: every call of theirs runs the Python tool.

Pings: ``answers_dir/hccn_tool/ping/`` holds ``up/<id>`` or ``down/<id>`` per device (by its
link), ``linkdown`` (the link-down answer), ``ok`` (the reply lines of a probe that loses
nothing, after the ``device N PING IP`` header) and ``pair/<status>/<id>/<ip>`` (the reply
lines of every pair with a planted rule: loss, custom times, the two dies of one A3 card).
The sh launcher prints the header and these lines with the probe time slept before each
reply, as the Python tool does; it needs the cluster's ``peers/up|down/<ip>`` files too.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys

import ccsim
import hccn_ping
import hccn_tool
import npu_smi

HCCN_QUERIES: tuple[tuple[str, ...], ...] = (
    ("-ip", "-g"),
    ("-ip", "-inet6", "-g"),
    ("-vnic", "-g"),
    ("-link", "-g"),
    ("-net_health", "-g"),
    ("-tls", "-g"),
    ("-gateway", "-g"),
    ("-netdetect", "-g"),
    ("-lldp", "-g"),
    ("-link_stat", "-g"),
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
                answers[arg + "".join(query)] = render(hccn_tool.main, ["-i", arg, *query], state_path)
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


def _ping_body(state: dict, dev: dict, dst: str) -> tuple[int, str] | None:
    """A ping's reply lines (the header dropped), rendered without the probe time."""
    quick = {**state, "ping": {**state["ping"], "probe_s": 0}}
    answer = render(lambda argv, _path: hccn_ping.ping(quick, dev, argv), ["-g", "address", dst], "")
    if answer is None or not answer[1].startswith(f"device {dev['device_id']} PING {dst}\n"):
        return None
    rc, text = answer
    body = text.split("\n", 1)[1]
    return (rc, body) if body.count("\n") == 4 else None


def _pair_addresses(state: dict, dev: dict) -> set[str]:
    """The addresses ``dev`` has a planted answer for: loss rules, and on A3 the other die
    of its own card (never reachable over RoCE)."""
    n = dev["device_id"]
    found = {key.split("/", 1)[1] for key in state["loss"] if key.split("/", 1)[0] == str(n)}
    if state["product"] == "A3":
        for other in state["devices"].values():
            if other["card_id"] == dev["card_id"] and other["device_id"] != n:
                found.update(ip for ip in (other["ip"], other["ipv6"], other.get("vnic_ip")) if ip)
    return found


def ping_answers(state: dict) -> dict[str, tuple[int, str]]:
    """The files of the launcher's ping lookup (keys relative to ``ping/``)."""
    files: dict[str, tuple[int, str]] = {}
    probe = {**state, "peers": {"0.0.0.0": ["", 0, 0, "UP"]}, "loss": {}}  # a plain peer
    ok = _ping_body(probe, {"device_id": 0, "card_id": 0, "link": "UP"}, "0.0.0.0")
    if ok is None or ok[0] != 0:
        return {}  # no fast path at all: every ping runs the Python tool
    files["ok"], files["linkdown"] = ok, (1, hccn_ping.LINK_DOWN)
    for key, dev in state["devices"].items():
        files[f"{'up' if dev['link'] == 'UP' else 'down'}/{key}"] = (0, "")
        for ip in _pair_addresses(state, dev):
            if "/" not in ip and ip.strip("."):
                body = _ping_body(state, dev, ip)
                files[f"pair/{body[0]}/{key}/{ip}" if body else f"python/{key}/{ip}"] = body or (0, "")
    return files


def write_ping(folder: str, files: dict[str, tuple[int, str]]) -> None:
    """``files``: path under ``folder`` -> (status, text); ``python/<id>/<ip>`` marks a pair
    whose answer could not be rendered: the launcher leaves it to the Python tool."""
    for key, answer in files.items():
        path = os.path.join(folder, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(answer[1].encode("ascii"))


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
        write_ping(os.path.join(answers_dir, "hccn_tool", "ping"), ping_answers(state))
    finally:
        ccsim.load = real_load


def main() -> int:
    for state_path, answers_dir in json.load(sys.stdin):
        write_server(state_path, answers_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
