"""One diagnostic type: findings, rank-table problems, preflight and probe problems are all
``console.core.diagnostic.Diagnostic``; the ``--json`` shapes that predate it are kept."""

from __future__ import annotations

import json

from console.core.diagnostic import Diagnostic, Where, diagnostic
from console.core.inventory import Inventory
from console.core.planning.layout import Layout
from console.core.ranktable.problems import describe, error, problem_json


def test_a_finding_keeps_its_json_shape_and_reads_back() -> None:
    d = diagnostic("error", "link_down", "link DOWN", host="h[1-2]", device=3)
    inv = Inventory(findings=[d])
    doc = json.loads(inv.model_dump_json())
    assert doc["findings"] == [
        {"severity": "error", "code": "link_down", "message": "link DOWN", "host": "h[1-2]", "device_id": 3}
    ]
    # an inventory saved by `discover --json` (launch --inventory FILE) loads into Diagnostics
    back = Inventory.model_validate_json(inv.model_dump_json())
    assert back.findings == [d] and isinstance(back.findings[0], Diagnostic)
    assert back.findings[0].where == Where(host="h[1-2]", device=3)


def test_layout_findings_are_diagnostics_in_the_findings_shape() -> None:
    lay = Layout(
        world_size=2,
        tp=1,
        pp=1,
        ep=1,
        dp=2,
        groups={},
        findings=[diagnostic("warning", "tp_spans_servers", "m", host="a,b")],
    )
    assert lay.model_dump(mode="json")["findings"] == [
        {"severity": "warning", "code": "tp_spans_servers", "message": "m", "host": "a,b", "device_id": None}
    ]


def test_a_ranktable_problem_is_a_diagnostic_with_its_json_path() -> None:
    p = error("server_list[0].device[1].rank_id", "rank_id_gap", "gap")
    assert isinstance(p, Diagnostic) and p.code == "rank_id_gap"
    assert p.where.path == "server_list[0].device[1].rank_id"
    assert describe(p) == "server_list[0].device[1].rank_id: error: gap"
    assert problem_json(p) == {
        "severity": "error",
        "path": "server_list[0].device[1].rank_id",
        "message": "gap",
        "rule": "rank_id_gap",
        "server_index": None,  # a path given as text: no indices
        "device_index": None,
        "field": None,
    }


def test_str_names_where_then_the_message() -> None:
    assert str(diagnostic("warning", "x", "msg")) == "msg"
    assert str(diagnostic("error", "x", "msg", host="h1")) == "h1: msg"
    assert str(diagnostic("error", "x", "msg", host="h1", device=2, rank=5)) == "h1 device 2 rank 5: msg"
    assert str(diagnostic("error", "x", "msg", ranks=(0, 1), line=3, column=7)) == "ranks 0, 1 line 3, column 7: msg"


def test_rank_ranges_are_folded_by_rangeset() -> None:
    from console.core.ranktable.problems import ranges

    assert ranges([1, 2, 3, 7]) == "1-3, 7"
    assert ranges([7, 3, 2, 2, 1]) == "1-3, 7"  # unsorted, repeated: folded once each
    assert ranges([]) == ""
