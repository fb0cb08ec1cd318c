"""Rank table pane and untrusted tables (issue 10): schema-broken files and raw JSON are listed
at their JSON paths, never crash; an unsafe server_id is a live error."""

from __future__ import annotations

import json

from textual.widgets import TextArea

from tests.ui.conftest import wait_until
from tests.ui.test_ranktable_pane import edit, make_app, opened, problems

EVIL = "[x:1 '-oProxyCommand=touch /tmp/p' z]"


async def test_schema_broken_file_is_reported_with_its_path(data_dir, tmp_path):
    doc = json.loads((data_dir / "ranktable_seed_2x4.json").read_text())
    del doc["server_list"][1]["device"][2]["rank_id"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(doc))
    app = make_app(broken)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: bool(app.errors))
        title, body = app.errors[-1]
        assert "not a valid rank table" in f"{title} {body}"
        assert "server_list[1].device[2].rank_id" in body and str(broken) in f"{title} {body}"
        assert app.is_running and app.screen.model.table is None


async def test_raw_json_schema_problems_are_listed_at_their_paths(data_dir):
    app = make_app(data_dir / "ranktable_seed_2x4.json")
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(app, pilot)
        await pilot.press("j")
        raw = app.screen.query_one("#rt-raw", TextArea)
        doc = json.loads(raw.text)
        doc["server_list"][0]["device"][1]["rank_id"] = "one"
        raw.text = json.dumps(doc, indent=2)
        await wait_until(pilot, lambda: app.screen.model.raw_error is not None)
        assert any(p.startswith("server_list[0].device[1].rank_id") and "one" in p for p in problems(app)), problems(
            app
        )
        await pilot.press("f2")  # refuses to leave with a table that cannot be read
        assert app.screen.raw_mode


async def test_unsafe_server_id_is_a_live_error(data_dir):
    app = make_app(data_dir / "ranktable_seed_2x4.json")
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(app, pilot)
        await edit(pilot, 0, "server_id", EVIL)
        assert app.screen.model.table.server_list[0].server_id == EVIL
        await wait_until(pilot, lambda: any("server_list[0].server_id" in p for p in problems(app)))
        line = next(p for p in problems(app) if "server_list[0].server_id" in p)
        assert "whitespace" in line
