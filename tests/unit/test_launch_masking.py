"""The Launch pane's rank detail shows secret env values as ``***`` (the ranks get them)."""

from __future__ import annotations

from console.core.planning.launch import build_launch_plan
from console.core.profiles import Profile
from console.core.ranktable.model import RankTable
from console.ui.models.launch_setup import rank_detail


def test_launch_pane_rank_detail_masks_secret_values(data_dir) -> None:
    table = RankTable.model_validate_json((data_dir / "ranktable_seed_2x4.json").read_text())
    plan = build_launch_plan(
        table, Profile(name="custom", command="run"), env={"HF_TOKEN": "tok-123456", "NOTE": "visible"}
    )
    text = rank_detail(plan, 0)
    assert "HF_TOKEN=***" in text and "tok-123456" not in text and "NOTE=visible" in text
    assert "MASTER_PORT=***" not in text
    assert plan.servers[0].ranks[0].env["HF_TOKEN"] == "tok-123456"  # the ranks get it
