"""The Launch pane's serving launch (``LaunchSource.run`` -> ``ops.serving.prepare``, the
CLI's setup too): a table MindIE refuses is refused before any command reaches a server."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from console.core.errors import CheckFailed
from console.core.planning.launch import build_launch_plan
from console.ops.profiles import load_profile
from console.ops.ranktable_files import read
from console.ui.launch_source import LaunchSource

DATA = Path(__file__).resolve().parents[1] / "data"


class RecordingPool:
    """Answers every command with a failure and remembers it."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str]] = []

    async def run(self, host: str, command: str, **kw: Any) -> Any:
        self.commands.append((host, command))
        return SimpleNamespace(ok=False, stdout="", stderr="refused by the test", exit_status=1, command=command)


class Shared:
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def get(self) -> Any:
        return self.pool


async def test_the_pane_refuses_a_table_mindie_refuses_before_touching_a_server(tmp_path: Path) -> None:
    data, table = read(DATA / "ranktable_seed_2x4.json")  # no container_ip: MindIE refuses it
    profile = load_profile("mindie-service")
    plan = build_launch_plan(table, profile, args=[], run_id="t-mindie")
    pool = RecordingPool()
    source = LaunchSource(Shared(pool), run_base=tmp_path / "runs")
    with pytest.raises(CheckFailed, match="MindIE Service's rules") as got:
        async for _ in source.run(plan, table, data):
            pass
    assert "containerIp in the server node is empty" in got.value.detail
    assert pool.commands == [] and not (tmp_path / "runs").exists()
