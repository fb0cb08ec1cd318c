"""Nodes pane: hosts in, discovery from an injected source, servers / cards / findings out."""

from __future__ import annotations

import asyncio

from textual.widgets import DataTable, OptionList, TextArea

from console.core.errors import RemoteError
from console.core.hosts import HostTarget
from console.ops.discovery import ServerDone, ServerStarted
from console.ui.app import ClusterConsoleApp
from console.ui.ids import safe_id
from console.ui.screens.dialogs import InputScreen
from tests.ui.conftest import (
    LINK_CMD,
    LINK_OUTPUT,
    FakeDiscovery,
    failing_discovery,
    seed_inventory,
    sources,
    submit,
    wait_until,
)


def column(table: DataTable, name: str) -> list[str]:
    index = [str(c.label) for c in table.ordered_columns].index(name)
    return [str(table.get_row_at(r)[index]) for r in range(table.row_count)]


def cell_style(table: DataTable, row: int, name: str) -> str:
    index = [str(c.label) for c in table.ordered_columns].index(name)
    return str(table.get_row_at(row)[index].style)


async def test_discover_shows_servers_cards_and_findings():
    fake = FakeDiscovery(seed_inventory())
    app = ClusterConsoleApp(hosts="node[1-2]", sources=sources(fake))
    async with app.run_test(size=(100, 30)) as pilot:
        servers = app.screen.query_one("#servers", DataTable)
        assert column(servers, "host") == ["node1", "node2"]
        assert column(servers, "server_id") == ["-", "-"]  # not discovered yet
        await pilot.press("d")
        await wait_until(pilot, lambda: app.inventory is not None and not app.screen.model.pending)
        assert fake.calls == [["node1", "node2"]]
        assert column(servers, "server_id") == ["90.90.152.89", "90.90.152.91"]
        assert column(servers, "reachable") == ["yes", "yes"]
        assert column(servers, "cards") == ["4", "4"]
        assert column(servers, "driver") == ["24.1.rc2", "24.1.rc2"]
        assert column(servers, "findings") == ["0", "1"]
        assert "red" in cell_style(servers, 1, "findings")
        assert servers.get_row_index(safe_id("server", "node2")) == 1

        devices = app.screen.query_one("#devices", DataTable)
        assert column(devices, "device_ip") == ["10.10.100.10", "10.10.100.11", "10.10.100.12", "10.10.100.13"]
        servers.focus()
        await pilot.press("down")
        assert column(devices, "device_ip")[0] == "10.10.100.22"
        assert column(devices, "link") == ["UP", "UP", "DOWN", "UP"]
        assert "red" in cell_style(devices, 2, "link") and cell_style(devices, 0, "link") == ""


async def test_selected_failure_shows_exact_command_and_raw_output():
    app = ClusterConsoleApp(inventory=seed_inventory(), sources=sources())
    async with app.run_test(size=(100, 30)) as pilot:
        issues = app.screen.query_one("#issues", OptionList)
        labels = [str(issues.get_option_at_index(i).prompt) for i in range(issues.option_count)]
        assert labels[0].endswith("node2: card 2 link is DOWN")
        assert any("node2 dev 2: link is DOWN" in label for label in labels)
        await pilot.press("f")
        assert issues.has_focus
        index = next(i for i, label in enumerate(labels) if "dev 2" in label)
        for _ in range(index):
            await pilot.press("down")
        detail = app.screen.query_one("#issue-detail", TextArea).text
        assert f"$ {LINK_CMD}" in detail and LINK_OUTPUT in detail
        assert "host: node2" in detail and "device: 2" in detail


async def test_servers_appear_as_discovery_progresses():
    gate = asyncio.Event()
    fake = FakeDiscovery(seed_inventory(), gate=gate)
    app = ClusterConsoleApp(hosts=["node1", "node2"], sources=sources(fake))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("d")
        servers = app.screen.query_one("#servers", DataTable)
        await wait_until(pilot, lambda: column(servers, "reachable") == ["yes", "…"])
        assert app.inventory is None  # nothing is published before discovery finishes
        assert "discovering 1/2" in str(app.screen.query_one("#hosts-line").render())
        gate.set()
        await wait_until(pilot, lambda: column(servers, "reachable") == ["yes", "yes"])
        await wait_until(pilot, lambda: app.inventory is not None)
        assert [s.host for s in app.inventory.servers] == ["node1", "node2"]


async def test_add_hosts_from_nodeset_and_hostfile(tmp_path):
    hostfile = tmp_path / "hosts.txt"
    hostfile.write_text("# cluster\nroot@node7:2222\nnode8 slots=8\n")
    app = ClusterConsoleApp(hosts="node1", sources=sources())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("h")
        assert isinstance(app.screen, InputScreen)
        await pilot.press(*"node[1-3]", "enter")
        await wait_until(pilot, lambda: len(app.hosts) == 3)
        await pilot.press("h")
        await submit(pilot, f"@{hostfile}")
        await wait_until(pilot, lambda: len(app.hosts) == 5)
        assert app.hosts[3] == HostTarget(host="node7", user="root", port=2222)
        servers = app.screen.query_one("#servers", DataTable)
        assert column(servers, "host") == ["node1", "node2", "node3", "root@node7:2222", "node8"]


async def test_bad_host_expression_is_reported_with_the_bad_part(tmp_path):
    app = ClusterConsoleApp(sources=sources())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("h", *"node[1-", "enter")
        await wait_until(pilot, lambda: app.errors)
        assert "node[1-" in app.errors[0][1]
        await pilot.press("h")
        await submit(pilot, f"@{tmp_path}/missing.txt")
        await wait_until(pilot, lambda: len(app.errors) == 2)
        assert "missing.txt" in app.errors[1][1]
        assert app.hosts == []


async def test_unreachable_discovery_error_names_host_and_command():
    error = RemoteError("connection refused", host="node2", command="ssh node2")
    app = ClusterConsoleApp(hosts="node[1-2]", sources=sources(failing_discovery(error)))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("d")
        await wait_until(pilot, lambda: app.errors)
        assert app.errors[0][0] == "connection refused"
        assert "host: node2" in app.errors[0][1] and "command: ssh node2" in app.errors[0][1]
        servers = app.screen.query_one("#servers", DataTable)
        assert "…" not in column(servers, "reachable")  # pending marks cleared


def test_snapshot_nodes_pane(snap_compare):
    app = ClusterConsoleApp(hosts="node[1-2]", inventory=seed_inventory(), sources=sources())
    assert snap_compare(app, press=["down"], terminal_size=(100, 30))


async def test_default_sources_discover_the_simulated_cluster_over_ssh(tmp_path):
    """The real path: Sources.default -> one shared Pool -> ops.discovery -> the sim's sshd."""
    from console.remote import SSHOptions
    from console.sim.cluster import SimCluster
    from console.sim.spec import ClusterSpec
    from console.ui.sources import Sources

    sim = SimCluster(ClusterSpec.default(), tmp_path / "sim", port=0)
    await sim.start()
    try:
        options = SSHOptions(ssh_config=sim.ssh_config_path, connect_timeout=20, command_timeout=60)
        app = ClusterConsoleApp(hosts=sim.hosts, sources=Sources.default(options))
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("d")
            await wait_until(pilot, lambda: app.inventory is not None or app.errors, timeout=60)
            assert not app.errors, app.errors
            servers = app.screen.query_one("#servers", DataTable)
            assert column(servers, "host") == sim.hosts
            assert column(servers, "reachable") == ["yes"] * len(sim.hosts)
            assert column(servers, "cards") == ["8"] * len(sim.hosts)
            pool = app.sources.pool._pool
            assert pool is not None  # one pool, shared, closed with the app
        assert app.sources.pool._pool is None
    finally:
        await sim.stop()


async def test_a_server_reporting_updates_its_row_without_rebuilding_the_table(monkeypatch):
    """At 1,024 servers a rebuild of the whole servers table on every redraw froze the app
    for seconds while discovery reported; a server reporting now updates its own row (the
    table is rebuilt only when what every row compares with changes, e.g. the first report
    sets the cluster's majority driver)."""
    template = seed_inventory().servers[0]
    hosts = [f"node{i}" for i in range(1, 7)]
    gates = {h: asyncio.Event() for h in hosts}

    async def discover(wanted):
        for h in wanted:
            yield ServerStarted(h)
        for i, h in enumerate(wanted, 1):
            await gates[h].wait()
            yield ServerDone(template.model_copy(update={"host": h}), i, len(wanted))

    app = ClusterConsoleApp(hosts=hosts, sources=sources(discover))
    async with app.run_test(size=(100, 30)) as pilot:
        servers = app.screen.query_one("#servers", DataTable)
        await pilot.press("d")
        gates["node1"].set()
        await wait_until(pilot, lambda: column(servers, "reachable")[0] == "yes")
        clears: list[int] = []
        real_clear = servers.clear
        monkeypatch.setattr(servers, "clear", lambda *a, **k: clears.append(1) or real_clear(*a, **k))
        for n, h in enumerate(hosts[1:], 2):
            gates[h].set()
            await wait_until(pilot, lambda n=n: column(servers, "reachable")[:n] == ["yes"] * n)
        assert clears == []
        assert column(servers, "host") == hosts
        for col in servers.ordered_columns:  # an updated cell widens its column, never cut
            widest = max(len(v) for v in column(servers, str(col.label)))
            assert col.content_width >= widest, f"column {col.label} cuts its cells"


async def test_rows_out_of_view_wait_while_discovery_runs_and_columns_are_measured_only_to_grow(monkeypatch):
    """While discovery runs, a changed cell of a row nobody sees is not sent to the table
    (DataTable re-renders every visible cell on any change: at 1,024 servers that starved
    the event loop); those rows are filled when scrolled to, and every row when discovery
    ends. A column is re-measured only when a cell is wider than it (asking for a narrower
    one made DataTable re-measure all 1,024 cells of the column, each time)."""
    template = seed_inventory().servers[0]
    hosts = [f"node{i:02d}" for i in range(1, 61)]
    finish = asyncio.Event()

    async def discover(wanted):
        for h in wanted:
            yield ServerStarted(h)
        for i, h in enumerate(wanted, 1):
            yield ServerDone(template.model_copy(update={"host": h}), i, len(wanted))
        await finish.wait()

    app = ClusterConsoleApp(hosts=hosts, sources=sources(discover))
    async with app.run_test(size=(100, 30)) as pilot:
        servers = app.screen.query_one("#servers", DataTable)
        updated: list[tuple[str, bool]] = []
        real_update = servers.update_cell

        def update_cell(row, column, value, *, update_width=False):
            updated.append((str(row), update_width))
            return real_update(row, column, value, update_width=update_width)

        monkeypatch.setattr(servers, "update_cell", update_cell)
        await pilot.press("d")
        await wait_until(pilot, lambda: len(app.screen.model.inventory.servers) == 60)
        await wait_until(pilot, lambda: column(servers, "reachable")[0] == "yes")
        in_view = servers.scrollable_content_region.height
        assert 0 < in_view < 30
        rows = column(servers, "reachable")
        assert rows[: in_view - 1] == ["yes"] * (in_view - 1)
        assert "yes" not in rows[in_view + 2 :]  # out of view: not redrawn yet
        far = {safe_id("server", h) for h in hosts[in_view + 2 :]}
        assert not [row for row, _ in updated if row in far]

        issues = app.screen.query_one("#issues")
        shows: list[int] = []
        real_show = issues.show
        monkeypatch.setattr(issues, "show", lambda items: shows.append(1) or real_show(items))
        for y in range(1, 31):  # a mouse wheel: many scroll steps before the next frame
            servers.scroll_to(y=y, animate=False)
        servers.scroll_end(animate=False)
        await wait_until(pilot, lambda: column(servers, "reachable")[-1] == "yes")
        assert shows == [], "scrolling redrew the whole pane (findings list included) per step"
        finish.set()
        await wait_until(pilot, lambda: app.inventory is not None)
        await wait_until(pilot, lambda: column(servers, "reachable") == ["yes"] * 60)
        widened = [row for row, width in updated if width]
        assert len(widened) <= 2 * len(servers.ordered_columns), widened
        for col in servers.ordered_columns:
            widest = max(len(v) for v in column(servers, str(col.label)))
            assert col.content_width >= widest, f"column {col.label} cuts its cells"
