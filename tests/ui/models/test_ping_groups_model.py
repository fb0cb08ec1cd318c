"""The Ping pane's grouped heatmap, without textual: above 64 servers the rows/columns are the
switches discovery found (``-lldp -g``) when every server has one, else blocks of servers; a
group pair drills down to its server pairs, a server pair to its cards."""

from __future__ import annotations

from console.core.inventory import Inventory
from console.core.pingresults import ProbeResult
from console.core.pingview import card_view
from console.core.planning.ping import plan_ping
from console.ops.ping import ProbeDone
from console.ui.models import ping as view
from tests.ui.ping_fixtures import LOSS_OUTPUT, inventory, ok_output


def _with_switches(inv: Inventory, per_leaf: int, missing: str | None = None) -> Inventory:
    """A rail-optimised fabric: card k of the servers of pod p on leaf ``pod<p>-leaf<k>``."""
    servers = []
    for n, s in enumerate(inv.servers):
        leaf = f"pod{n // per_leaf + 1}-leaf"
        devices = [
            d.model_copy(update={"lldp_switch": None if s.host == missing else f"{leaf}{d.device_id}"})
            for d in s.devices
        ]
        servers.append(s.model_copy(update={"devices": devices}))
    return Inventory(servers=servers)


def _swept_model(inv: Inventory, bad: tuple[str, int, str, int]) -> view.PingModel:
    plan = plan_ping(inv, "sample")
    state = view.PingModel()
    state.start(plan)
    for i, p in enumerate(plan.probes, 1):
        text = LOSS_OUTPUT if p.key == bad else ok_output(p)
        state.apply(ProbeDone(ProbeResult.from_output(p, 0, text), i, len(plan.probes), None))
    return state


def test_64_servers_or_fewer_are_not_grouped() -> None:
    inv = _with_switches(inventory(64, 1), 32)
    assert view.heatmap_groups([s.host for s in inv.servers], inv) is None


def test_groups_are_the_switches_then_server_pairs_then_cards() -> None:
    inv = _with_switches(inventory(96, 2), 32)
    hosts = [s.host for s in inv.servers]
    plan = plan_ping(inv, "sample")
    bad = next(p.key for p in plan.probes if p.src_host == "node05" and p.dst_host[4:] > "64")
    state = _swept_model(inv, bad)
    groups = view.heatmap_groups(hosts, inv)
    assert groups is not None and view.groups_by_switch(groups, inv)
    assert [(g.label, len(g.hosts)) for g in groups] == [("pod1-leaf0", 32), ("pod2-leaf0", 32), ("pod3-leaf0", 32)]
    ga = next(n for n, g in enumerate(groups) if bad[0] in g.hosts)
    gb = next(n for n, g in enumerate(groups) if bad[2] in g.hosts)
    assert (ga, gb) == (0, 2)
    state.set_groups(g.hosts for g in groups)
    cell, pending = state.group_cell(ga, gb)
    assert cell.status == "loss" and cell.text.startswith("33%") and pending == 0
    assert state.group_cell(0, 1)[0].status == "ok"
    # drill-down: the server pairs of that switch pair, then the cards of the lossy pair
    lossy = [(a, b) for a in groups[ga].hosts for b in groups[gb].hosts if state.cell(a, b)[0].status == "loss"]
    assert lossy == [(bad[0], bad[2])]
    cards = card_view(state.matrix(lossy[0]), bad[0], bad[2])
    assert any(c.status == "loss" for row in cards.cells for c in row)
    assert state.problem_pairs()[0][0] == (bad[0], bad[2])


def test_blocks_when_a_server_has_no_switch() -> None:
    inv = _with_switches(inventory(96, 2), 32, missing="node40")
    groups = view.heatmap_groups([s.host for s in inv.servers], inv)
    assert groups is not None and not view.groups_by_switch(groups, inv)
    assert [g.label for g in groups][:2] == ["B1", "B2"]
    assert view.heatmap_groups([s.host for s in inv.servers], None) == groups  # no inventory: blocks too
