"""Rank table pane: load, edit, live problems with JSON paths, undo, raw JSON, save, quit."""

from __future__ import annotations

import json
import shutil
import stat

from textual.widgets import TextArea
from textual.widgets.text_area import Selection

from console.core.ranktable import loads
from console.ops.ranktable_files import load
from console.ui.app import ClusterConsoleApp
from console.ui.screens.dialogs import ConfirmScreen, InputScreen
from console.ui.widgets.problems import ProblemList
from console.ui.widgets.ranktable_grid import RankGrid
from tests.ui.conftest import seed_inventory, sources, submit, wait_until


def make_app(path, **kw) -> ClusterConsoleApp:
    return ClusterConsoleApp(hosts="node[1-2]", ranktable_path=path, start="ranktable", sources=sources(), **kw)


async def opened(app, pilot) -> None:
    await wait_until(pilot, lambda: app.screen.model.table is not None)


def problems(app) -> list[str]:
    return [item.text for item in app.screen.query_one(ProblemList).items]


async def edit(pilot, row: int, column: str, value: str) -> None:
    grid = pilot.app.screen.query_one(RankGrid)
    grid.focus()
    grid.go_to(row, column)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, InputScreen))
    await pilot.press("ctrl+a", "ctrl+k", *value, "enter")  # select all, delete, type
    await wait_until(pilot, lambda: not isinstance(pilot.app.screen, InputScreen))


async def test_load_edit_duplicate_ip_undo(data_dir):
    app = make_app(data_dir / "ranktable_seed_2x4.json")
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(app, pilot)
        screen = app.screen
        grid = screen.query_one(RankGrid)
        assert grid.row_count == 8 and grid.column_names[:4] == ("server_id", "device_id", "device_ip", "rank_id")
        assert not any(p.startswith("✖") or "error" in p for p in problems(app) if "device_ip" in p)
        assert screen.sub_title == "ranktable_seed_2x4.json"

        await edit(pilot, 2, "device_ip", "10.10.100.10")
        assert screen.model.table.server_list[0].device[2].device_ip == "10.10.100.10"
        dup = [p for p in problems(app) if "server_list[0].device[2].device_ip" in p]
        assert dup and "10.10.100.10" in dup[0], problems(app)
        assert "red" in str(grid.get_cell_at((2, 2)).style)  # the offending cell is painted
        assert str(grid.get_cell_at((1, 2)).style) == ""  # its neighbour is not
        assert screen.sub_title == "ranktable_seed_2x4.json *"  # dirty marker in the title
        assert screen.unsaved_changes()

        await pilot.press("u")
        assert screen.model.table.server_list[0].device[2].device_ip == "10.10.100.12"
        assert not [p for p in problems(app) if "device_ip" in p]
        assert screen.sub_title == "ranktable_seed_2x4.json" and not screen.unsaved_changes()


async def test_mismatch_with_discovered_cards_is_listed(data_dir):
    inventory = seed_inventory()
    inventory.servers[1].devices[3].device_ip = "10.10.100.99"
    app = make_app(data_dir / "ranktable_seed_2x4.json", inventory=inventory)
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(app, pilot)
        found = [p for p in problems(app) if p.startswith("server_list[1].device[3].device_ip")]
        assert found and "10.10.100.99" in found[0]
        items = app.screen.query_one(ProblemList).items
        assert any(i.code == "device_ip_mismatch" and i.where == "server_list[1].device[3].device_ip" for i in items)
        assert "red" in str(app.screen.query_one(RankGrid).get_cell_at((7, 2)).style)
        # selecting the problem puts the cursor on the cell
        plist = app.screen.query_one(ProblemList)
        plist.focus()
        plist.highlighted = [i.text for i in plist.items].index(found[0])
        await pilot.press("enter")
        assert app.screen.query_one(RankGrid).current() == (7, "device_ip")


def said(app, monkeypatch) -> list[str]:
    """Every notification's text, in order."""
    messages: list[str] = []
    real = app.notify
    monkeypatch.setattr(app, "notify", lambda message, *a, **k: messages.append(message) or real(message, *a, **k))
    return messages


async def test_save_reload_equal_and_file_mode(data_dir, tmp_path, monkeypatch):
    out = tmp_path / "rt.json"
    app = make_app(data_dir / "ranktable_seed_2x4.json")
    messages = said(app, monkeypatch)
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(app, pilot)
        pane = app.screen
        await edit(pilot, 0, "device_ip", "10.10.100.14")
        await pilot.press("c", *"device_port", "enter")  # show an optional field
        await wait_until(pilot, lambda: "device_port" in pane.query_one(RankGrid).column_names)
        await edit(pilot, 7, "device_port", "16667")
        await pilot.press("S")
        await submit(pilot, str(out))
        await wait_until(pilot, lambda: not pane.unsaved_changes() and out.exists())
        edited = pane.model.table
        assert pane.sub_title == "rt.json" and app.screen is pane
        await wait_until(pilot, lambda: any(m.startswith("Saved") for m in messages))
        assert not any(".bak" in m for m in messages)  # nothing was there before: no backup
    again = load(out)
    assert again == edited
    assert again.server_list[0].device[0].device_ip == "10.10.100.14"
    assert again.server_list[1].device[3].device_port == 16667
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


async def test_save_keeps_bak_and_asks_when_table_has_errors(data_dir, tmp_path, monkeypatch):
    path = tmp_path / "rt.json"
    shutil.copy(data_dir / "ranktable_seed_2x4.json", path)
    app = make_app(path)
    messages = said(app, monkeypatch)
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(app, pilot)
        await edit(pilot, 5, "device_ip", "10.10.100.22")  # duplicate: an error
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "server_list[1].device[1].device_ip" in app.screen.question
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.screen.unsaved_changes())
        await wait_until(pilot, lambda: any(m.startswith("Saved") for m in messages))
        assert any("previous version kept as rt.json.bak" in m for m in messages)
    assert (tmp_path / "rt.json.bak").read_text() == (data_dir / "ranktable_seed_2x4.json").read_text()
    assert load(path).server_list[1].device[1].device_ip == "10.10.100.22"


async def test_quit_with_unsaved_changes_asks(data_dir):
    app = make_app(data_dir / "ranktable_seed_2x4.json")
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(app, pilot)
        await edit(pilot, 0, "device_ip", "10.10.100.50")
        await pilot.press("1", "ctrl+q")  # from another pane too
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "unsaved" in app.screen.question
        await pilot.press("n")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert app.is_running
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.is_running)


async def test_raw_json_view_validates_as_you_type(data_dir):
    app = make_app(data_dir / "ranktable_seed_2x4.json")
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(app, pilot)
        await pilot.press("j")
        raw = app.screen.query_one("#rt-raw", TextArea)
        assert raw.has_focus and json.loads(raw.text)["server_count"] == "2"
        raw.move_cursor((2, 0))
        await pilot.press("x")  # breaks the JSON on line 3
        await wait_until(pilot, lambda: app.screen.model.raw_error is not None)
        assert "line 3, column 1" in problems(app)[0]
        assert app.screen.query_one(ProblemList).items[0].target == (3, 1)  # a field, not parsed
        await pilot.press("f2")  # refuses to leave with broken JSON
        assert app.screen.raw_mode and app.screen.unsaved_changes()
        await pilot.press("backspace")
        await wait_until(pilot, lambda: app.screen.model.raw_error is None)
        line = next(i for i, text in enumerate(raw.text.splitlines()) if "10.10.100.13" in text)
        col = raw.text.splitlines()[line].index("10.10.100.13") + len("10.10.100.1")
        raw.selection = Selection((line, col), (line, col + 1))
        await pilot.press("0")  # 10.10.100.13 -> 10.10.100.10: a duplicate
        assert any("server_list[0].device[3].device_ip" in p for p in problems(app))
        await pilot.press("f2")
        assert not app.screen.raw_mode
        assert app.screen.model.table.server_list[0].device[3].device_ip == "10.10.100.10"
        await pilot.press("u")
        assert app.screen.model.table == loads((data_dir / "ranktable_seed_2x4.json").read_text())


async def test_build_from_inventory_move_renumber_add_remove():
    app = ClusterConsoleApp(inventory=seed_inventory(), start="ranktable", sources=sources())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("b")
        editor = app.screen.model
        assert [s.server_id for s in editor.table.server_list] == ["90.90.152.89", "90.90.152.91"]
        assert not [p for p in problems(app) if p.startswith("server_list")], problems(app)
        grid = app.screen.query_one(RankGrid)
        grid.go_to(5, "device_ip")
        await pilot.press("left_square_bracket")
        assert [s.server_id for s in editor.table.server_list] == ["90.90.152.91", "90.90.152.89"]
        assert grid.current() == (1, "device_ip")  # the cursor follows the moved server
        assert any("rank" in p for p in problems(app))  # ranks now out of order
        await pilot.press("r")
        assert [d.rank_id for s in editor.table.server_list for d in s.device] == list(range(8))
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, InputScreen))
        await pilot.press(*"90.90.152.95", "enter")
        await wait_until(pilot, lambda: len(editor.table.server_list) == 3)
        assert editor.table.server_list[1].server_id == "90.90.152.95"
        assert editor.table.server_count == 3
        assert any(p.startswith("server_list[1]") for p in problems(app))  # not discovered, no IPs
        await pilot.press("x")
        assert [s.server_id for s in editor.table.server_list] == ["90.90.152.91", "90.90.152.89"]
        for _ in range(4):
            await pilot.press("u")
        assert [s.server_id for s in editor.table.server_list] == ["90.90.152.89", "90.90.152.91"]


def test_snapshot_ranktable_with_problem(snap_compare, data_dir):
    inventory = seed_inventory()
    inventory.servers[1].devices[3].device_ip = "10.10.100.99"
    app = make_app(data_dir / "ranktable_seed_2x4.json", inventory=inventory)

    async def ready(pilot):
        await opened(app, pilot)
        app.clear_notifications()

    assert snap_compare(app, run_before=ready, terminal_size=(100, 30))
