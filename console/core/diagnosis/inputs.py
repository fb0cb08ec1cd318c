"""What a diagnosis reads besides logs, from documents already parsed (pure): where each rank
ran (plan.json or the rank table), the clock offsets and exit times (events.jsonl records), and
the ping matrix from ``ping --json``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..pingresults import PingMatrix, ProbeResult
from ..planning.ping import Probe
from .model import RankPlace

PROBE_FIELDS = (
    "src_host",
    "src_server_id",
    "src_device",
    "src_ip",
    "dst_host",
    "dst_server_id",
    "dst_device",
    "dst_ip",
    "ipv6",
    "round",
)


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def places_from_plan(plan: dict[str, Any]) -> list[RankPlace]:
    """plan.json (LaunchPlan): servers[].ranks[] -> one place per rank."""
    out = []
    for server in plan.get("servers") or []:
        sid = server.get("server_id") if isinstance(server, dict) else None
        for r in (server.get("ranks") or []) if sid else []:
            rank = _int(r.get("rank"))
            if rank is not None:
                out.append(
                    RankPlace(
                        rank=rank,
                        server=str(sid),
                        device_id=_int(r.get("device_id")),
                        device_ip=r.get("device_ip") or None,
                    )
                )
    return out


def places_from_ranktable(table: dict[str, Any]) -> list[RankPlace]:
    """A RankTableFile 1.0/1.2 document: server_list[].device[] -> one place per rank_id."""
    out = []
    for server in table.get("server_list") or []:
        if not isinstance(server, dict):
            continue
        for d in server.get("device") or []:
            rank = _int(d.get("rank_id")) if isinstance(d, dict) else None
            if rank is not None:
                out.append(
                    RankPlace(
                        rank=rank,
                        server=str(server.get("server_id")),
                        device_id=_int(d.get("device_id")),
                        device_ip=d.get("device_ip") or None,
                    )
                )
    return out


def clocks_from_events(events: Iterable[dict[str, Any]]) -> tuple[dict[str, float], dict[int, float]]:
    """(clock offset per server, console time of each failed rank's exit) from events.jsonl."""
    offsets: dict[str, float] = {}
    exits: dict[int, float] = {}
    for ev in events:
        kind = ev.get("event")
        if kind == "go" and isinstance(ev.get("clocks"), dict):
            for sid, c in ev["clocks"].items():
                if isinstance(c, dict) and isinstance(c.get("offset_s"), (int, float)):
                    offsets[str(sid)] = float(c["offset_s"])
        elif kind == "exit" and (ev.get("code") or ev.get("signal")):
            rank, ts = _int(ev.get("rank")), ev.get("ts")
            if rank is not None and isinstance(ts, (int, float)):
                exits.setdefault(rank, float(ts))
    return offsets, exits


def ping_from_json(doc: dict[str, Any]) -> PingMatrix:
    """The ``ping --json`` document back into a PingMatrix (``pairs`` rows)."""
    results = []
    for row in doc.get("pairs") or []:
        probe = Probe(**{k: row[k] for k in PROBE_FIELDS if k in row})
        rest = {k: v for k, v in row.items() if k not in PROBE_FIELDS}
        results.append(ProbeResult(probe=probe, **rest))
    pattern = doc.get("pattern")
    known = pattern in ("cross", "rail", "pairwise", "sample", "custom", "retry")
    return PingMatrix(pattern=str(pattern) if known else "custom", hosts=list(doc.get("hosts") or []), results=results)
