"""The compact result store: every field of a ProbeResult comes back exactly, raw output
included (compressed for ok probes), at well under 200 bytes a probe."""

from __future__ import annotations

import json

import pytest

from console.core.pingresults import PingMatrix, ProbeResult
from console.core.pingstore import BLOCK, ResultTable
from console.core.planning.ping import plan_ping
from tests.unit.pingfixtures import make_inventory

OK = (
    "device {d} PING {ip}\nrecv seq=0,time=0.0{a}7000ms\nrecv seq=1,time=0.049000ms\n"
    "recv seq=2,time=0.047000ms\n3 packets transmitted, 3 received, 0.00% packet loss\n"
)
LOSS = (
    "device {d} PING {ip}\nrecv seq=0,time=0.067000ms\nrecv time out seq=1\n"
    "recv seq=2,time=0.047000ms\n3 packets transmitted, 2 received, 33.33% packet loss\n"
)
PREFIX = "timeout --foreground -k 2 15 "


def _results(n_servers: int = 6) -> list[ProbeResult]:
    plan = plan_ping(make_inventory(n_servers, 8), "rail")
    out = []
    for i, p in enumerate(plan.probes):
        text = (LOSS if i % 7 == 0 else OK).format(d=p.src_device, ip=p.dst_ip, a=i % 10)
        command = PREFIX + p.command if i % 5 else "timeout 3 " + p.command  # two prefixes
        out.append(ProbeResult.from_output(p, 1 if i % 7 == 0 else 0, text, 2.0 + i / 1000, 1 + i % 3, command=command))
    out.append(ProbeResult.timeout(plan.probes[0], 17.0, "device 0 PING partial\x00\udcff é", 17.5))
    out.append(ProbeResult.skipped(plan.probes[1], "server lost: gone"))
    return out


def test_every_field_round_trips_exactly() -> None:
    results = _results()
    table = ResultTable.of(results)
    assert len(table) == len(results)
    assert [r.model_dump() for r in table] == [r.model_dump() for r in results]
    assert table[-2].raw == "device 0 PING partial\x00\udcff é"
    assert len({i for i in range(len(table)) if table.raw_place[i] >= 0}) > BLOCK  # compressed blocks used


def test_ok_raw_output_is_compressed_and_not_ok_kept_as_text() -> None:
    results = _results(12)
    table = ResultTable.of(results)
    ok = [i for i, r in enumerate(results) if r.status == "ok"]
    assert ok and all(table.raw_place[i] >= 0 and i not in table.raws for i in ok)
    assert all(i in table.raws for i, r in enumerate(results) if r.status not in ("ok", "skipped"))
    raw_text = sum(len(results[i].raw) for i in ok)
    table.ok_raws.seal()  # the last, partly filled blocks too
    assert table.ok_raws.nbytes() < raw_text / 4
    assert [r.model_dump() for r in table] == [r.model_dump() for r in results]


def test_bytes_per_probe_well_under_the_200_mb_per_million_target() -> None:
    """Arrays + compressed ok output + the plan's table: about 100 bytes a probe."""
    table = ResultTable.of(_results(24))
    assert table.nbytes() / len(table) < 120


def test_matrix_json_unchanged_by_the_store(data_dir) -> None:
    """A matrix built from results gives the same --json rows as the results themselves."""
    results = _results()
    m = PingMatrix(pattern="rail", results=results)
    rows = m.to_json()["pairs"]
    assert [(r["status"], r["raw"], r["command"], r["attempts"]) for r in rows] == [
        (r.status, r.raw, r.command, r.attempts) for r in results
    ]
    json.dumps(m.to_json(), ensure_ascii=False)  # plain JSON types


def test_copy_is_independent_and_fill_unset_marks_the_rest_skipped() -> None:
    plan = plan_ping(make_inventory(3, 2), "rail")
    table = ResultTable(plan.probes)
    p = plan.probes[0]
    table.set(0, ProbeResult.from_output(p, 0, OK.format(d=p.src_device, ip=p.dst_ip, a=1)))
    with pytest.raises(LookupError):
        table[1]
    copy = table.copy()
    copy.fill_unset("not run")
    assert copy.filled == len(plan.probes) and table.filled == 1
    assert copy[1].status == "skipped" and copy[1].errors == ["not run"] and copy[1].attempts == 0
    assert copy[0].raw == table[0].raw
    assert copy.errors == {}  # one reason for every filled row, not a dict entry a row
    copy.set(2, ProbeResult.skipped(plan.probes[2], "server lost: x"))
    copy.set(3, ProbeResult(probe=plan.probes[3], status="skipped", command="c", errors=[]))
    assert [copy[i].errors for i in (1, 2, 3)] == [["not run"], ["server lost: x"], []]
