"""`ranktable validate` exit codes and the shape of its `--json` document (an API: add fields only)."""

from __future__ import annotations

import json

from console.cli import main


def _run(capsys, *argv):
    code = main(["ranktable", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


# ---- the --json document as it was before issue 10: these keys must stay --------------------

PROBLEM_KEYS = {"severity", "path", "message", "rule"}
ERROR_KEYS = {"error", "detail", "host", "command", "path", "hint", "exit_code"}


def test_validate_json_shape_of_an_invalid_table_is_pinned(capsys, data_dir):
    path = data_dir / "ranktable_bad_interleaved.json"
    code, out, _ = _run(capsys, "validate", path, "--json")
    doc = json.loads(out)
    assert code == 1
    assert {"file", "valid", "problems"} <= set(doc)
    assert doc["file"] == str(path) and doc["valid"] is False
    assert all(PROBLEM_KEYS <= set(p) for p in doc["problems"])
    first = next(p for p in doc["problems"] if p["severity"] == "error")
    assert first["path"] == "server_list[0].device[1].rank_id"
    assert first["rule"] == "rank_id_interleaved"


def test_validate_json_shape_of_a_valid_table_is_pinned(capsys, data_dir):
    code, out, _ = _run(capsys, "validate", data_dir / "ranktable_hccl_tools_1server.json", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["valid"] is True and doc["problems"] == []
    assert {"file", "valid", "problems"} <= set(doc)


def test_validate_json_shape_of_an_unreadable_file_is_pinned(capsys, tmp_path):
    missing = tmp_path / "none.json"
    code, out, err = _run(capsys, "validate", missing, "--json")
    doc = json.loads(out)
    assert code == 2 and str(missing) in err
    assert {"file", "valid", "error"} <= set(doc) and doc["valid"] is False
    assert ERROR_KEYS <= set(doc["error"]) and doc["error"]["exit_code"] == 2
    assert doc["error"]["path"] == str(missing)
