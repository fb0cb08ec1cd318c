"""The Launch pane's preflight checklist, without textual: items of the shared problem list
(severity, code, message, where), each with the detail shown when it is selected."""

from __future__ import annotations

from pathlib import Path

from console.core.diagnostic import diagnostic
from console.core.ranktable import validate
from console.core.ranktable.text import loads
from console.ui.models.launch_setup import checklist
from console.ui.models.problems import ProblemItem

DATA = Path(__file__).parent.parent.parent / "data"


def _checks(**kw):
    table = loads((DATA / "ranktable_bad_interleaved.json").read_text())
    args = dict(
        path="rt.json",
        table_error=None,
        table=table,
        plan=None,
        plan_error=None,
        profile_error=None,
        table_problems=validate(table),
        inventory=None,
        unsaved=False,
        remote=None,
    )
    return checklist(**(args | kw))


def test_table_problems_are_items_with_their_path_and_a_detail() -> None:
    checks = _checks()
    assert all(isinstance(c, ProblemItem) for c in checks)
    bad = [c for c in checks if c.code == "rank_id_interleaved"]
    assert bad and bad[0].severity == "error" and bad[0].where == "server_list[0].device[1].rank_id"
    assert bad[0].line().startswith("✖ server_list[0].device[1].rank_id: rank_id ")
    detail = bad[0].detail.splitlines()
    assert detail[0] == "✖ blocks the launch: F5 refuses while it stands"
    assert detail[1] == bad[0].message and "where: server_list[0].device[1].rank_id" in detail
    assert "check: rank_id_interleaved" in detail and "Rank table pane (3)" in detail[-1]
    ok = next(c for c in checks if c.text.startswith("rank table rt.json"))
    assert ok.severity == "ok" and ok.line().startswith("✔ ") and ok.detail.startswith("✔ fine")


def test_server_checks_keep_their_host_code_and_severity() -> None:
    remote = [
        diagnostic("error", "npu_busy", "device 3 is used by pid 4242 (python3)", host="node2"),
        diagnostic("warning", "not_in_inventory", "not in the inventory; cards not checked", host="node3"),
    ]
    checks = _checks(remote=remote)
    busy = next(c for c in checks if c.code == "npu_busy")
    assert (busy.severity, busy.where, busy.text) == ("error", "node2", "node2: device 3 is used by pid 4242 (python3)")
    assert "where: node2" in busy.detail and "F6" in busy.detail
    warn = next(c for c in checks if c.code == "not_in_inventory")
    assert warn.severity == "warning" and warn.line().startswith("! node3: ")
