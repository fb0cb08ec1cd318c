"""The app frame: pane switching, bindings with ids, help, palette, the one error handler."""

from __future__ import annotations

import pytest
from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.widgets import DataTable, Footer

from console.core.errors import RemoteError
from console.ui.app import ClusterConsoleApp, describe_error
from console.ui.ids import safe_id, unsafe
from console.ui.panes import PANES
from console.ui.screens.dialogs import ConfirmScreen, HelpScreen, InputScreen
from console.ui.screens.launch import LaunchScreen
from console.ui.screens.nodes import NodesScreen
from console.ui.screens.ping import PingScreen
from console.ui.screens.ranktable import RankTableScreen
from tests.ui.conftest import failing_discovery, sources, wait_until

SCREENS = {"nodes": NodesScreen, "ping": PingScreen, "ranktable": RankTableScreen, "launch": LaunchScreen}


def make_app(**kw) -> ClusterConsoleApp:
    kw.setdefault("sources", sources())
    return ClusterConsoleApp(hosts="node[1-2]", **kw)


async def test_keys_1_to_4_switch_panes():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.current_mode == "nodes" and isinstance(app.screen, NodesScreen)
        for key, mode in (("3", "ranktable"), ("2", "ping"), ("4", "launch"), ("1", "nodes")):
            await pilot.press(key)
            assert app.current_mode == mode
            assert isinstance(app.screen, SCREENS[mode])
        # panes are kept, not rebuilt: the Nodes screen is the same object
        first = app.screen
        await pilot.press("3", "1")
        assert app.screen is first


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_every_pane_lays_out_at_small_and_large_sizes(size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        for spec in PANES:
            await pilot.press(spec.key)
            await pilot.pause()
            screen = app.screen
            footer = screen.query_one(Footer)
            assert footer.region.height == 1 and footer.region.bottom == size[1]
            for table in screen.query(DataTable):
                if table.display and table.parent.display:
                    assert table.region.height >= 3, (spec.mode, table.id, table.region)


def test_every_binding_has_an_id_and_a_description():
    classes = [ClusterConsoleApp, *SCREENS.values(), HelpScreen, ConfirmScreen, InputScreen]
    ids = []
    for cls in classes:
        for binding in cls.__dict__.get("BINDINGS", []):  # our own, not textual's
            if isinstance(binding, Binding) and not binding.system:
                assert binding.id and binding.description, (cls.__name__, binding)
                ids.append(binding.id)
    assert len(ids) == len(set(ids)), "binding ids must be unique"


async def test_help_lists_the_panes_bindings_with_ids():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = {row[2] for row in app.screen.rows}
        assert {"nodes.discover", "nodes.add_hosts", "pane.ranktable", "app.quit"} <= ids
        await pilot.press("escape")
        await pilot.press("3", "f1")
        assert isinstance(app.screen, HelpScreen)
        ids = {row[2] for row in app.screen.rows}
        assert {"ranktable.save", "ranktable.undo", "ranktable.server_up"} <= ids
        assert "nodes.discover" not in ids


async def test_every_pane_action_is_in_the_command_palette():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        for spec in PANES:
            await pilot.press(spec.key)
            titles = {c.title for c in app.get_system_commands(app.screen)}
            assert {f"Go to {p.title}" for p in PANES} <= titles
            for binding in type(app.screen).BINDINGS:
                if app.screen.check_action(binding.action, ()):
                    assert binding.description in titles, binding
        await pilot.press("1")
        # and the palette really runs them: go to the rank table by typing its name
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Go to Rank table")
        await wait_until(pilot, lambda: app.screen.query_one(CommandList).option_count > 0)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.current_mode == "ranktable")


async def test_worker_failure_becomes_one_notification_naming_host_and_command():
    error = RemoteError(
        "command failed", "exit status 127", host="node2", command="npu-smi info -l", hint="is the driver installed?"
    )
    app = make_app(sources=sources(failing_discovery(error)))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("d")
        await wait_until(pilot, lambda: app.errors)
        title, body = app.errors[0]
        assert title == "command failed"
        assert "host: node2" in body and "command: npu-smi info -l" in body
        notes = [n for n in app._notifications if n.severity == "error"]
        assert notes and "npu-smi info -l" in notes[0].message and "node2" in notes[0].message
        assert app.is_running  # the app survives the failure


def test_describe_error_for_unexpected_exceptions():
    title, body = describe_error(ValueError("boom"), "discovery")
    assert title == "discovery failed" and body == "ValueError: boom"


@pytest.mark.parametrize("name", ["10.0.0.1", "fe80::1%eth0", "node_01", "node-01", "a_2e", "日本"])
def test_safe_id_is_valid_and_reversible(name):
    widget_id = safe_id("host", name)
    assert "." not in widget_id and ":" not in widget_id
    DataTable(id=widget_id)  # textual accepts it
    assert unsafe(widget_id) == name


def test_safe_id_never_merges_two_hosts():
    names = ["10.0.0.1", "10-0-0-1", "10_0_0_1", "10_2e0_2e0_2e1", "10:0:0:1"]
    assert len({safe_id("h", n) for n in names}) == len(names)


async def test_quit_without_changes_exits():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running)
    assert app.return_value == 0


def test_snapshot_ping_empty(snap_compare):
    assert snap_compare(make_app(start="ping"), terminal_size=(100, 30))


def test_snapshot_launch_empty(snap_compare):
    assert snap_compare(make_app(start="launch"), terminal_size=(100, 30))


def test_snapshot_help(snap_compare):
    assert snap_compare(make_app(), press=["question_mark"], terminal_size=(100, 30))


async def test_c_on_the_launch_pane_edits_the_command_and_digits_are_typed_there():
    from textual.widgets import Input

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4", "c")
        await wait_until(pilot, lambda: isinstance(app.focused, Input))
        assert app.focused.id == "launch-command"
        await pilot.press(*"python3 x.py")
        assert app.current_mode == "launch"  # the "3" was typed, not taken as "Rank table"
        assert app.focused.value == "python3 x.py"


async def test_console_log_warnings_become_notifications():
    import logging

    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        logging.getLogger("console.remote.hostkeys").warning(
            "Warning: Permanently added '127.0.0.11' (ED25519) to the list of known hosts."
        )
        await pilot.pause()
        assert any("Permanently added '127.0.0.11'" in n.message for n in app._notifications)
    assert not any(type(h).__name__ == "NotifyHandler" for h in logging.getLogger("console").handlers)
