"""Ping matrix pane: a real cross sweep on the in-process simulated cluster (the lossy pair
flagged, drill-down to the card matrix and the probe's raw output, export), cancel and
re-run, 64 servers at 80x24, and a snapshot of a matrix built from fixed outputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from textual.widgets import DataTable, OptionList, Static, TextArea

from console.core.inventory import Inventory
from console.core.pingview import group_servers
from console.core.planning.ping import plan_ping
from console.remote import SSHOptions
from console.sim.cluster import SimCluster
from console.sim.spec import ClusterSpec
from console.ui.app import ClusterConsoleApp
from console.ui.ids import safe_id
from console.ui.models import ping as view
from console.ui.ping_cards import CardMatrix
from console.ui.screens.ping import PingScreen
from tests.ui.conftest import sources, submit, wait_until
from tests.ui.ping_fixtures import (
    LINK_DOWN_OUTPUT,
    LOSS_OUTPUT,
    built_matrix,
    demo_matrix,
    inventory,
    running_sim,
)

SIM_WAIT = 90.0  # the machine is shared: SSH handshakes and sweeps may be slow


def sim_app(sim: SimCluster, **kw) -> ClusterConsoleApp:
    return ClusterConsoleApp(
        hosts=[s.name for s in sim.spec.servers],
        ssh_options=SSHOptions(ssh_config=sim.ssh_config_path, command_timeout=30),
        **kw,
    )


def spec_inventory(sim: SimCluster) -> Inventory:
    """What discovery finds on the sim (taken from its spec, to skip discovery)."""
    return sim.spec.inventory(host="name")


def heat(screen: PingScreen, a: str, b: str) -> str:
    table = screen.query_one("#heatmap", DataTable)
    return str(table.get_cell(safe_id("src", a), safe_id("dst", b)))


def heat_style(screen: PingScreen, a: str, b: str) -> str:
    cell = screen.query_one("#heatmap", DataTable).get_cell(safe_id("src", a), safe_id("dst", b))
    return str(cell.spans[0].style)


async def test_cross_sweep_on_the_sim_flags_the_lossy_pair_and_drills_down(tmp_path: Path) -> None:
    async with running_sim(tmp_path / "sim") as sim:
        app = sim_app(sim)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("d")  # real discovery over SSH, on the Nodes pane
            await wait_until(
                pilot,
                lambda: (
                    app.inventory is not None
                    and len(app.inventory.servers) == 2
                    and all(s.reachable and s.devices for s in app.inventory.servers)
                ),
                SIM_WAIT,
            )
            await pilot.press("2", "r")
            screen = app.screen
            assert isinstance(screen, PingScreen)
            await wait_until(pilot, lambda: screen.model.results and not screen.model.running, SIM_WAIT)

            s = screen.model.summary()
            assert (s["probes"], s["ok"], s["lossy"], s["failed"]) == (128, 127, 1, 0), s
            lossy = [r for r in screen.model.results.values() if r.status == "loss"]
            assert [r.probe.key for r in lossy] == [("node01", 3, "node02", 3)]
            assert lossy[0].loss_pct == 33.33
            # the heatmap: the pair is flagged with its loss, coloured red (a lost probe), both ways
            for a, b in (("node01", "node02"), ("node02", "node01")):
                assert heat(screen, a, b).strip().startswith("33% 1/128"), heat(screen, a, b)
                assert heat_style(screen, a, b) == view.STYLES["bad"]
            assert screen.query_one("#problems", OptionList).option_count == 1
            assert "node01 <-> node02" in str(screen.query_one("#problems", OptionList).get_option_at_index(0).prompt)

            await pilot.press("enter")  # the cursor starts on node01 x node02
            assert screen.drill == ("node01", "node02")
            cards = screen.query_one(CardMatrix)
            grid = cards.query_one("#card-matrix", DataTable)
            assert (grid.row_count, len(grid.columns)) == (8, 8)
            assert str(grid.get_cell_at((3, 3))).strip() == "33%"
            assert str(grid.get_cell_at((3, 4))).strip() == "0%"
            grid.cursor_coordinate = (3, 3)  # type: ignore[assignment]
            await wait_until(pilot, lambda: "33.33 %" in cards.query_one("#cell-detail", TextArea).text)
            detail = cards.query_one("#cell-detail", TextArea).text
            assert "hccn_tool -i 3 -ping -g address 10.10.100.25" in detail
            assert "recv time out seq=O" in detail and "rtt min/avg/max 0.066/" in detail and "/0.097 ms" in detail
            await pilot.press("escape")
            assert screen.drill is None

            for name in ("ping.csv", "ping.json"):
                await pilot.press("e")
                await submit(pilot, str(tmp_path / name))
                await wait_until(pilot, lambda n=name: (tmp_path / n).exists(), SIM_WAIT)
            rows = list(csv.DictReader((tmp_path / "ping.csv").open(encoding="utf-8")))
            assert len(rows) == 128 and [r["loss_pct"] for r in rows if r["status"] == "loss"] == ["33.33"]
            doc = json.loads((tmp_path / "ping.json").read_text(encoding="utf-8"))
            assert doc["summary"]["lossy"] == 1 and len(doc["pairs"]) == 128


async def test_cancel_keeps_finished_results_and_rerun_failed_completes(tmp_path: Path) -> None:
    spec = ClusterSpec.default().model_copy(update={"ping_probe_s": 0.4})
    async with running_sim(tmp_path / "sim", spec) as sim:
        app = sim_app(sim, inventory=spec_inventory(sim), start="ping")
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, PingScreen)
            await pilot.press("r")
            # while running, every pending pair carries the running marker
            await wait_until(pilot, lambda: heat(screen, "node01", "node02").endswith(view.MARKER))
            await wait_until(pilot, lambda: screen.model.done >= 1, SIM_WAIT)
            await pilot.press("c")
            await wait_until(pilot, lambda: not screen.model.running, SIM_WAIT)
            assert screen.model.cancelled
            results = list(screen.model.results.values())
            assert len(results) == 128
            skipped = [r for r in results if r.status == "skipped"]
            assert skipped and all("sweep cancelled" in r.errors[0] for r in skipped)
            assert any(r.status in ("ok", "loss") for r in results)  # finished ones are kept
            assert "CANCELLED" in str(screen.query_one("#ping-status", Static).content)
            assert not heat(screen, "node01", "node02").endswith(view.MARKER)

            before = screen.model.finished
            await pilot.press("f")  # re-run failed: the lossy, failed and not-run probes
            # a re-run of a few probes may end between two polls: wait for its result, not for "running"
            await wait_until(pilot, lambda: screen.model.finished is not before and not screen.model.running, SIM_WAIT)
            s = screen.model.summary()
            assert (s["probes"], s["ok"], s["lossy"], s["skipped"]) == (128, 127, 1, 0), s
            assert not screen.model.cancelled
            lossy = screen.model.results[("node01", 3, "node02", 3)]
            assert lossy.loss_pct == 33.33 and lossy.attempts >= 1


async def test_64_servers_stay_readable_at_80x24() -> None:
    matrix = built_matrix(
        64, 2, "rail", bad={("node17", 1, "node42", 1): LOSS_OUTPUT, ("node05", 0, "node60", 0): LINK_DOWN_OUTPUT}
    )
    app = ClusterConsoleApp(sources=sources(), start="ping")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, PingScreen)
        screen.show_matrix(matrix)
        await pilot.pause()
        table = screen.query_one("#heatmap", DataTable)
        assert (table.row_count, len(table.columns)) == (64, 64)
        assert all(col.get_render_width(table) <= 4 for col in table.columns.values())
        assert table.region.height >= 8 and table.region.width >= 40
        # the cells: whole-percent loss or a code, coloured; the diagonal is blank
        assert heat(screen, "node17", "node42").strip() == "33"
        assert heat_style(screen, "node42", "node17") == view.STYLES["bad"]
        assert heat(screen, "node60", "node05").strip() == "DN"
        assert heat_style(screen, "node05", "node60") == view.STYLES["bad"]
        assert heat(screen, "node01", "node02").strip() == "0"
        # aggregate first: the worst pairs are listed, worst first, and visible on screen
        problems = screen.query_one("#problems", OptionList)
        labels = [str(problems.get_option_at_index(i).prompt) for i in range(problems.option_count)]
        assert len(labels) == 2 and "node05 <-> node60" in labels[0] and "node17 <-> node42" in labels[1]
        assert problems.region.height >= 4 and screen.region.contains_region(problems.region)
        # ... and one Enter away from the card matrix
        problems.focus()
        problems.highlighted = 0
        await pilot.press("enter")
        assert screen.drill == ("node05", "node60")
        grid = screen.query_one("#card-matrix", DataTable)
        assert (grid.row_count, len(grid.columns)) == (2, 2)
        assert str(grid.get_cell_at((0, 0))).strip() == "DOWN"
        assert str(grid.get_cell_at((0, 0)).style) == view.STYLES["bad"]


async def test_pattern_choice_and_nothing_to_run_without_discovery() -> None:
    app = ClusterConsoleApp(sources=sources(), start="ping")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert "No servers discovered" in str(screen.query_one("#ping-status", Static).content)
        await pilot.press("r")
        assert not screen.model.running and any("Discover" in n.message for n in app._notifications)
        assert screen.pattern == "cross"
        await pilot.press("p")
        assert screen.pattern == "pairwise"
        await pilot.press("p", "p", "p")
        assert screen.pattern == "cross"


async def test_above_16_servers_rail_by_default_with_count_and_estimate_before_the_sweep() -> None:
    app = ClusterConsoleApp(sources=sources(), start="ping")
    async with app.run_test(size=(120, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, PingScreen)
        app.inventory = inventory(17, 2)
        status = screen.query_one("#ping-status", Static)
        # 17 servers x 2 cards, rail: 16 probes per card one after the other, ~3 s each
        await wait_until(pilot, lambda: "544 probes, about 48 s" in str(status.content), SIM_WAIT)
        assert screen.pattern == "rail" and str(status.content).startswith("17 servers · pattern rail (p) · ")
        await pilot.press("p")  # cross is one key away
        await wait_until(pilot, lambda: "1,088 probes, about 2 min" in str(status.content), SIM_WAIT)
        assert screen.pattern == "cross" and not screen.model.running


def test_snapshot_ping_pane(snap_compare) -> None:
    async def show(pilot) -> None:
        pilot.app.screen.show_matrix(demo_matrix())
        await pilot.pause()

    app = ClusterConsoleApp(hosts="node[01-03]", sources=sources(), start="ping")
    assert snap_compare(app, terminal_size=(100, 30), run_before=show)


async def test_above_64_servers_blocks_then_server_pairs_then_cards() -> None:
    plan = plan_ping(inventory(100, 2), "sample")
    bad = plan.probes[150].key
    matrix = built_matrix(100, 2, "sample", bad={bad: LOSS_OUTPUT})
    groups = group_servers(matrix.all_hosts())
    ga = next(n for n, g in enumerate(groups) if bad[0] in g.hosts)
    gb = next(n for n, g in enumerate(groups) if bad[2] in g.hosts)
    app = ClusterConsoleApp(sources=sources(), start="ping")
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, PingScreen)
        screen.show_matrix(matrix)
        await pilot.pause()
        table = screen.query_one("#heatmap", DataTable)
        assert (table.row_count, len(table.columns)) == (len(groups), len(groups)) == (13, 13)
        block_cell = str(table.get_cell(safe_id("gsrc", str(ga)), safe_id("gdst", str(gb))))
        assert "33%" in block_cell and "33%" in str(table.get_cell(safe_id("gsrc", str(gb)), safe_id("gdst", str(ga))))
        table.focus()
        table.move_cursor(row=ga, column=gb, animate=False)
        await pilot.press("enter")  # the block pair, server by server
        assert screen.block == (ga, gb)
        assert (table.row_count, len(table.columns)) == (len(groups[ga].hosts), len(groups[gb].hosts))
        assert heat(screen, bad[0], bad[2]).strip() == "33"
        table.move_cursor(row=groups[ga].hosts.index(bad[0]), column=groups[gb].hosts.index(bad[2]), animate=False)
        await pilot.press("enter")  # the server pair, card by card
        assert screen.drill == (bad[0], bad[2])
        await pilot.press("escape")
        assert screen.drill is None and screen.block == (ga, gb)
        await pilot.press("escape")
        assert screen.block is None and table.row_count == 13


async def test_switch_names_printed_by_servers_are_shown_as_text_never_markup() -> None:
    """LLDP System Names come from the servers (untrusted): ``x[/]`` once raised MarkupError
    and killed the pane above 64 servers; ``[bold]...`` or ``[@click=...]`` were applied."""
    from rich.text import Text

    inv = inventory(70, 2)
    names = ["x[/]", "[bold]sw[/bold] [@click=app.quit]q[/]"]
    for n, server in enumerate(inv.servers):
        server.devices = [d.model_copy(update={"lldp_switch": names[n // 35]}) for d in server.devices]
    matrix = built_matrix(70, 2, "sample")
    app = ClusterConsoleApp(sources=sources(), start="ping", inventory=inv)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, PingScreen)
        screen.show_matrix(matrix)
        await pilot.pause()
        table = screen.query_one("#heatmap", DataTable)
        assert [str(c.label).strip() for c in table.columns.values()] == names
        assert [str(r.label).split(" node")[0] for r in table.rows.values()] == names
        assert all(not Text(str(c.label)).spans and not c.label.spans for c in table.columns.values())
        assert "by switch" in Text.from_markup(table.border_title or "").plain
        table.focus()
        table.move_cursor(row=0, column=1, animate=False)
        await pilot.press("enter")  # the block pair: its title names both switches
        assert screen.block == (0, 1)
        title = Text.from_markup(table.border_title or "").plain
        assert title.startswith("x[/] node[01-35] x [bold]sw[/bold]")
