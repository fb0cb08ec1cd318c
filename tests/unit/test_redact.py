"""Which environment variables are secret, and how they are masked (console.core.redact)."""

from __future__ import annotations

import pytest

from console.core.planning.launch import build_launch_plan
from console.core.profiles import Profile
from console.core.ranktable.model import RankTable
from console.core.redact import MASK, is_secret_name, mask_env, scrub, secret_values
from console.ui.launch_form import rank_detail


@pytest.mark.parametrize("name", [
    "HF_TOKEN", "hf_token", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "MYSQL_PASSWD", "API_KEY",
    "KEY", "GOOGLE_APPLICATION_CREDENTIALS", "AUTH_HEADER", "HTTP_AUTHORIZATION", "SECRET"])
def test_secret_names(name) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", [
    "MASTER_ADDR", "MASTER_PORT", "MASTER_KEY_HINT", "RANK", "HCCL_CONNECT_TIMEOUT",
    "SSL_KEY_FILE", "TOKEN_PATH", "SSH_AUTH_SOCK", "KEY_DIR", "PATH", "PWD"])
def test_not_secret_names(name) -> None:
    assert not is_secret_name(name)


def test_mask_env_and_scrub() -> None:
    env = {"HF_TOKEN": "abcdef", "RANK": "3", "API_KEY": "12"}
    assert mask_env(env) == {"HF_TOKEN": MASK, "RANK": "3", "API_KEY": MASK}
    values = secret_values([env, {"X_SECRET": "abcdefgh"}])
    assert values == ["abcdefgh", "abcdef"]  # short values are masked by name only
    assert scrub("k=abcdefgh v=abcdef r=12", values) == "k=*** v=*** r=12"


def test_launch_pane_rank_detail_masks_secret_values(data_dir) -> None:
    table = RankTable.model_validate_json((data_dir / "ranktable_seed_2x4.json").read_text())
    plan = build_launch_plan(table, Profile(name="custom", command="run"),
                             env={"HF_TOKEN": "tok-123456", "NOTE": "visible"})
    text = rank_detail(plan, 0)
    assert "HF_TOKEN=***" in text and "tok-123456" not in text and "NOTE=visible" in text
    assert plan.servers[0].ranks[0].env["HF_TOKEN"] == "tok-123456"  # the ranks get it
