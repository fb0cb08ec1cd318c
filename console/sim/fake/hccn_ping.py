"""``hccn_tool -i N -ping -g address IP [pkt N]`` (and ``-inet6``), and A3 ``-hccs_ping``.

Answers come from the server's state: the destination IP's owner and link, and the loss
faults of this (source device, destination IP) pair. Each probe takes ``probe_s`` seconds.
"""

from __future__ import annotations

import time

from ccsim import out, peers

LINK_DOWN = "Execute failed: Link status is down.\nCommand execute failed!\n"
NOT_SUPPORTED = "The command is not supported on this product.\n"
_SEQS = (0, 1, 2)


class Usage(Exception):
    """Malformed arguments: the tool prints its invalid-command lines."""


def _options(rest: list[str]) -> tuple[bool, dict[str, str]]:
    """(-inet6 given, {option: value}) from ``[-inet6] -g key value ...``."""
    inet6 = bool(rest) and rest[0] == "-inet6"
    if inet6:
        rest = rest[1:]
    if not rest or rest[0] != "-g" or len(rest) % 2 == 0:
        raise Usage
    pairs = rest[1:]
    return inet6, {pairs[i].lstrip("-"): pairs[i + 1] for i in range(0, len(pairs), 2)}


def _plan(state: dict, dev: dict, dst: str) -> tuple[set, list, bool]:
    """(lost seqs, reply times per seq, guide typo) for a probe of ``dst`` from ``dev``."""
    peer = peers(state).get(dst)
    rule = state["loss"].get(f"{dev['device_id']}/{dst}")
    times = (rule or {}).get("times") or state["ping"]["times_ms"]
    if peer is None:
        return set(_SEQS), times, False
    server, device, card, _link = peer
    if state["product"] == "A3" and server == state["server"] and card == dev["card_id"] and device != dev["device_id"]:
        return set(_SEQS), times, False  # the two dies of one A3 card cannot RoCE-ping
    if rule:
        return set(rule["lost"]), times, bool(rule["typo"])
    return set(), times, False


def ping(state: dict, dev: dict, rest: list[str]) -> int:
    inet6, opts = _options(rest)
    dst = opts.get("ipv6_address" if inet6 else "address")
    pkt = opts.get("pkt", "0")
    if dst is None or not pkt.isdigit() or int(pkt) > 65507:
        raise Usage
    peer = peers(state).get(dst)
    if dev["link"] != "UP" or (peer is not None and peer[3] != "UP"):
        out(LINK_DOWN)
        return 1
    lost, times, typo = _plan(state, dev, dst)
    ok_typo = state["ping"]["ok_typo"] and not lost
    probe_s = state["ping"]["probe_s"]
    out(f"device {dev['device_id']} PING{'6' if inet6 else ''} {dst}\n")
    for seq in _SEQS:
        if probe_s:
            time.sleep(probe_s)
        if seq in lost:
            out(f"recv time out seq={'O' if typo and seq == 0 else seq}\n")
        else:
            sep = "-" if ok_typo and seq == 1 else "="
            out(f"recv seq={seq},time{sep}{times[seq]:.6f}ms\n")
    received = 3 - len(lost)
    out(f"3 packets transmitted, {received} received, {len(lost) * 100 / 3:.2f}% packet loss\n")
    return 0 if not lost else 1


def hccs_ping(state: dict, dev: dict, rest: list[str]) -> int:
    if state["product"] != "A3":
        out(NOT_SUPPORTED)
        return 1
    _inet6, opts = _options(rest)
    dst = opts.get("address")
    if dst is None:
        raise Usage
    lost, _times, _typo = _plan(state, dev, dst)
    times = state["ping"]["hccs_us"]
    if state["ping"]["probe_s"]:
        time.sleep(3 * state["ping"]["probe_s"])
    got = [times[s] for s in _SEQS if s not in lost]
    verdict = "ping success" if not lost else "send fail" if len(lost) == 3 else "check recv msg fail"
    lines = [f"device {dev['device_id']} PING {dst}", f"This pkt {verdict}!"]
    lines += [f"recv seq {s}, time = {times[s]:.3f}us, L1 plane check result = 0x0" for s in _SEQS if s not in lost]
    lines.append(f"3 packets transmitted, {len(got)} received, {len(lost) * 100 / 3:.2f}% packets loss")
    mx, mn = (max(got), min(got)) if got else (0.0, 0.0)
    avg = sum(got) / len(got) if got else 0.0
    lines += [f"max time {mx:.3f}us", f"min time {mn:.3f}us", f"average time {avg:.3f}us", f"TP95 time {mx:.3f}us"]
    out("\n".join(lines) + "\n")
    return 0 if not lost else 1
