"""`ranktable validate` exit codes and the shape of its `--json` document (an API: add fields only)."""

from __future__ import annotations

import json

import pytest

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
    assert all(set(p) >= PROBLEM_KEYS for p in doc["problems"])
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
    assert set(doc["error"]) >= ERROR_KEYS and doc["error"]["exit_code"] == 2
    assert doc["error"]["path"] == str(missing)


# ---- issue 10: JSON that breaks the schema is an invalid table (exit 1), at its JSON path -----


def _table():
    doc = {
        "status": "completed",
        "version": "1.0",
        "server_count": "1",
        "server_list": [
            {
                "server_id": "10.0.0.1",
                "container_ip": "10.0.0.1",
                "device": [
                    {"device_id": "0", "device_ip": "10.1.0.1", "rank_id": "0"},
                    {"device_id": "1", "device_ip": "10.1.0.2", "rank_id": "1"},
                ],
            }
        ],
    }
    return doc


def _broken(kind):
    doc = _table()
    if kind == "device without rank_id":
        del doc["server_list"][0]["device"][1]["rank_id"]
        return doc, "server_list[0].device[1].rank_id", "field_missing"
    if kind == "no server_list":
        del doc["server_list"]
        return doc, "server_list", "server_list_missing"
    if kind == 'rank_id "one"':
        doc["server_list"][0]["device"][0]["rank_id"] = "one"
        return doc, "server_list[0].device[0].rank_id", "field_invalid"
    if kind == "2.0 with rank_list":
        return (
            {
                "status": "completed",
                "version": "2.0",
                "rank_count": "1",
                "rank_list": [{"rank_id": "0", "device_id": "0"}],
            },
            "rank_list",
            "format_unsupported",
        )
    if kind == "top-level array":
        return [doc], "$", "not_an_object"
    raise AssertionError(kind)


KINDS = ["device without rank_id", "no server_list", 'rank_id "one"', "2.0 with rank_list", "top-level array"]


@pytest.mark.parametrize("kind", KINDS)
def test_schema_broken_table_is_exit_1_with_the_json_path(capsys, tmp_path, kind):
    doc, path, rule = _broken(kind)
    f = tmp_path / "rt.json"
    f.write_text(json.dumps(doc))
    code, out, err = _run(capsys, "validate", f)
    assert code == 1, err
    assert out.startswith(f"{path}: error: ") and "INVALID: 1 error," in err
    code, out, _ = _run(capsys, "validate", f, "--json")
    doc_out = json.loads(out)
    assert code == 1 and doc_out["valid"] is False and "error" not in doc_out
    assert [(p["path"], p["rule"], p["severity"]) for p in doc_out["problems"]] == [(path, rule, "error")]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("action", ["show", "merge", "launch", "probe"])
def test_other_actions_refuse_a_schema_broken_table_clearly(capsys, tmp_path, kind, action):
    doc, path, _ = _broken(kind)
    f = tmp_path / "rt.json"
    f.write_text(json.dumps(doc))
    argv = {
        "show": ["ranktable", "show", f],
        "merge": ["ranktable", "merge", f, "-o", tmp_path / "out.json"],
        "launch": ["launch", "--ranktable", f, "--run-dir", tmp_path / "runs", "--", "true"],
        "probe": ["probe", "--ranktable", f, "--run-dir", tmp_path / "runs"],
    }[action]
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert f"{f}: not a valid rank table" in err and f"{path}: error: " in err and "Traceback" not in err
    assert not (tmp_path / "out.json").exists()


def test_deeply_nested_json_is_exit_2_not_a_rank_table(capsys, tmp_path):
    f = tmp_path / "deep.json"
    f.write_text("[" * 100_000 + "]" * 100_000)
    code, out, err = _run(capsys, "validate", f)
    assert code == 2 and out == ""
    assert f"{f}: not a rank table: nested too deeply" in err and "RecursionError" not in err
    inner = tmp_path / "inner.json"  # parses, but unknown fields nest far deeper than a rank table
    doc = _table()
    doc["server_list"][0]["x"] = json.loads("[" * 500 + "]" * 500)
    inner.write_text(json.dumps(doc))
    code, out, err = _run(capsys, "validate", inner, "--json")
    assert code == 2 and "nested too deeply" in err
    assert json.loads(out)["error"]["exit_code"] == 2
