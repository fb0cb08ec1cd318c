"""``tui`` / ``demo`` / ``serve --force-remote-ranktable``: the CLI's launch option reaches the
Launch pane's plans (``LaunchSource.plan_options`` -> ``make_plan``), as ``launch`` takes it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from console.cli import build_parser
from console.cli.demo import demo_app
from console.cli.serve import app_argv
from console.cli.tui import launch_pane_options
from console.core.ranktable import RankTable
from console.ops.profiles import load_profile
from console.ui.models.launch_setup import Form, make_plan

TABLE = RankTable.model_validate(
    {
        "version": "1.0",
        "server_count": "1",
        "server_list": [
            {
                "server_id": "10.0.0.1",
                "device": [{"device_id": str(d), "device_ip": f"192.168.1.{d}", "rank_id": str(d)} for d in range(2)],
            }
        ],
    }
)


def _plan(options: dict):
    profile = load_profile("custom").model_copy(update={"remote_ranktable": "/srv/shared/rt.json"})
    plan, error = make_plan(TABLE, profile, Form("custom", "python3 x.py", "", ""), options, "run-1")
    assert plan is not None, error
    return plan


@pytest.mark.parametrize("command", ["tui", "demo"])
def test_the_flag_reaches_the_launch_pane_plan(command: str) -> None:
    forced = build_parser().parse_args([command, "--force-remote-ranktable"])
    plain = build_parser().parse_args([command])
    assert _plan(launch_pane_options(forced)).force_remote_ranktable is True
    assert _plan(launch_pane_options(plain)).force_remote_ranktable is False
    assert _plan(launch_pane_options(forced)).remote_ranktable == "/srv/shared/rt.json"


def test_demo_app_passes_it_to_the_launch_source(tmp_path: Path) -> None:
    cluster = SimpleNamespace(ssh_options=lambda: None, workdir=tmp_path, hosts=["127.0.0.11"])
    options = launch_pane_options(build_parser().parse_args(["demo", "--force-remote-ranktable"]))
    app = demo_app(cluster, options)
    assert app.sources.launch.plan_options == {
        "remote_ranktable": str(tmp_path / "remote" / "ranktable.json"),
        "force_remote_ranktable": True,
    }
    assert "force_remote_ranktable" not in demo_app(cluster).sources.launch.plan_options


@pytest.mark.parametrize("extra", [[], ["--demo"]])
def test_serve_passes_it_to_every_console_it_starts(extra: list[str]) -> None:
    args = build_parser().parse_args(["serve", *extra, "--force-remote-ranktable"])
    argv = app_argv(args)
    assert argv[argv.index("tui" if not extra else "demo") :][-1] == "--force-remote-ranktable"
    assert build_parser().parse_args(argv[3:]).force_remote_ranktable is True  # the console parses it
    assert "--force-remote-ranktable" not in app_argv(build_parser().parse_args(["serve", *extra]))


def test_tui_run_gives_it_to_the_app(monkeypatch) -> None:
    from console.cli import tui
    from console.ui.app import ClusterConsoleApp

    seen: list[dict] = []
    monkeypatch.setattr(ClusterConsoleApp, "run", lambda self: seen.append(self.sources.launch.plan_options) or 0)
    assert tui.run(build_parser().parse_args(["-F", "none", "tui", "--force-remote-ranktable"])) == 0
    assert seen == [{"force_remote_ranktable": True}]
