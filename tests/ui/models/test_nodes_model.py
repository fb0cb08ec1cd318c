"""The Nodes pane's model (console.ui.models.nodes), without textual: discovery events in,
servers, pending marks and findings out."""

from __future__ import annotations

from console.core.inventory import Server
from console.ops.discovery import DiscoveryDone, ServerDone, ServerStarted
from console.ui.models.nodes import NodesModel, issues
from tests.ui.conftest import seed_inventory


def test_discovery_events_fill_the_model():
    inventory = seed_inventory()
    model = NodesModel()
    model.start(["node1", "node2"])
    assert model.running and model.pending == {"node1", "node2"}
    assert model.progress == "discovering 0/2"
    changes = model.changes
    model.apply(ServerStarted("node1"))  # already pending: nothing to show
    assert model.changes == changes
    model.apply(ServerDone(inventory.servers[0], 1, 2))
    assert model.pending == {"node2"} and model.progress == "discovering 1/2"
    assert model.inventory.server("node1").reachable and not model.inventory.server("node2").reachable
    assert model.final is None
    model.apply(ServerDone(inventory.servers[1], 2, 2))
    model.apply(DiscoveryDone(inventory))
    assert model.final is inventory and model.inventory is inventory and not model.pending
    model.end()
    assert not model.running and model.progress == ""
    assert model.changes == changes + 3 + 1
    assert model.host_of("90.90.152.91") == "node2" and model.host_of("node1") == "node1"


def test_a_failed_discovery_clears_the_pending_marks_and_keeps_what_came():
    model = NodesModel()
    model.start(["node1", "node2"])
    model.apply(ServerDone(seed_inventory().servers[0], 1, 2))
    model.end(RuntimeError("connection refused"))
    assert not model.pending and model.final is None
    assert [s.host for s in model.inventory.servers] == ["node1", "node2"]


def test_shown_inventory_follows_the_app_unless_discovery_runs():
    model = NodesModel()
    model.show(seed_inventory())
    assert len(model.inventory.servers) == 2
    model.start(["node9"])
    model.show(None)  # the app's inventory changed meanwhile: the running discovery wins
    assert [s.host for s in model.inventory.servers] == ["node9"]


def test_findings_and_failures_are_problem_items():
    items = issues(seed_inventory())
    assert [(i.severity, i.code, i.where) for i in items] == [
        ("error", "link_down", "node2"),
        ("error", "command_failed", "node2 dev 2"),
    ]
    assert "$ timeout 5 hccn_tool -i 2 -link -g" in items[1].detail and items[1].target == "node2"
    down = seed_inventory(fault=False).model_copy(
        update={"servers": [Server(host="node3", reachable=False, error="connection refused")]}
    )
    assert [(i.code, i.message) for i in issues(down)] == [("unreachable", "unreachable")]


def test_device_row_shows_the_lldp_switch_and_port() -> None:
    from console.core.inventory import Device, Inventory, Server
    from console.ui.models import nodes as view

    dev = Device(device_id=0, lldp_switch="pod01-leaf01", lldp_port="400GE1/1/1:1")
    quiet = Device(device_id=1)
    server = Server(host="h1", reachable=True, devices=[dev, quiet])
    inv = Inventory(servers=[server])
    assert view.DEVICE_COLUMNS[-1] == "switch port"
    assert view.device_row(inv, server, dev)[-1].plain == "pod01-leaf01 400GE1/1/1:1"
    assert view.device_row(inv, server, quiet)[-1].plain == "-"  # LLDP off: empty, not an error
