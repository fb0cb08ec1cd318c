"""`cluster-console ranktable ...`: exit codes, stdout data, stderr diagnostics."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _run(capsys, *argv):
    code = main(["ranktable", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_clean_sample_exits_0_with_warnings(capsys, data_dir):
    code, out, err = _run(capsys, "validate", data_dir / "ranktable_seed_2x4.json")
    assert code == 0
    assert len(out.splitlines()) == 1 and out.startswith("server_list: warning: ")
    assert "container_ip" in out and "valid" in err


def test_validate_interleaved_exits_1_naming_fields(capsys, data_dir):
    code, out, err = _run(capsys, "validate", data_dir / "ranktable_bad_interleaved.json")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("server_list[0].device[1].rank_id: error: ")
    assert lines[1].startswith("server_list[1].device[1].rank_id: error: ")
    assert "invalid" in err.lower()


def test_validate_json(capsys, data_dir):
    path = data_dir / "ranktable_bad_interleaved.json"
    code, out, _ = _run(capsys, "validate", path, "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["file"] == str(path) and doc["valid"] is False
    assert {"severity", "path", "message", "rule"} <= set(doc["problems"][0])
    code, out, _ = _run(capsys, "validate", data_dir / "ranktable_hccl_tools_1server.json", "--json")
    assert code == 0 and json.loads(out)["valid"] is True and json.loads(out)["problems"] == []


def test_validate_missing_and_broken_files_exit_2(capsys, tmp_path):
    code, out, err = _run(capsys, "validate", tmp_path / "none.json")
    assert code == 2 and out == "" and str(tmp_path / "none.json") in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"status": "completed"\n  "server_list": []}')
    code, out, err = _run(capsys, "validate", bad)
    assert code == 2 and out == "" and "line 2, column 3" in err


def test_validate_json_of_broken_file_prints_the_error_as_json(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"status": "completed"\n  "server_list": []}')
    code, out, err = _run(capsys, "validate", bad, "--json")
    assert code == 2 and "line 2, column 3" in err
    doc = json.loads(out)
    assert doc["file"] == str(bad) and doc["valid"] is False
    assert doc["error"]["path"] == str(bad) and "line 2, column 3" in doc["error"]["error"]
    assert doc["error"]["exit_code"] == 2


def test_help_names_every_action(capsys):
    with pytest.raises(SystemExit):
        main(["ranktable", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    description = out.split("positional arguments")[0]
    assert all(action in description.lower() for action in ("validate", "show", "build", "merge", "schema"))


def test_validate_v2_exits_1_naming_the_format(capsys, data_dir):
    code, out, err = _run(capsys, "validate", data_dir / "ranktable_v2.0_unsupported.json")
    assert code == 1 and "INVALID" in err
    assert out.startswith("rank_list: error: a version 2.0 rank table (rank_list")


def test_show_prints_a_table(capsys, data_dir):
    code, out, _ = _run(capsys, "show", data_dir / "ranktable_a3_v1.2.json")
    assert code == 0
    for text in ("10.0.1.11", "10.0.1.12", "192.23.4.197", "98435088", "super_device_id"):
        assert text in out
    rows = [line for line in out.splitlines() if "192.23." in line]
    assert len(rows) == 4 and "10.0.1.12" in rows[2] and " 2 " in rows[2]


def test_show_json(capsys, data_dir):
    code, out, _ = _run(capsys, "show", data_dir / "ranktable_seed_2x4.json", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["version"] == "1.0" and doc["world_size"] == 8
    assert doc["ranks"][5] == {
        "rank_id": 5,
        "server_index": 1,
        "server_id": "90.90.152.91",
        "device_id": 1,
        "device_ip": "10.10.100.23",
        "super_device_id": None,
        "super_pod_id": None,
    }
    assert [s["server_id"] for s in doc["servers"]] == ["90.90.152.89", "90.90.152.91"]


def test_merge_writes_a_valid_file(capsys, data_dir, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    one = json.loads((data_dir / "ranktable_hccl_tools_1server.json").read_text())
    a.write_text(json.dumps(one))
    one["server_list"][0]["server_id"] = "10.155.111.141"
    for dev in one["server_list"][0]["device"]:
        dev["device_ip"] = dev["device_ip"].replace(".27.", ".28.")
    b.write_text(json.dumps(one))
    out_file = tmp_path / "merged.json"
    code, out, err = _run(capsys, "merge", b, a, "-o", out_file)
    assert code == 0, err
    assert str(out_file) in out and "16 ranks" in out
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o640
    merged = json.loads(out_file.read_text())
    assert merged["server_count"] == "2"
    assert [s["server_id"] for s in merged["server_list"]] == ["10.155.111.141", "10.155.111.140"]
    assert [d["rank_id"] for s in merged["server_list"] for d in s["device"]] == [str(i) for i in range(16)]


def test_merge_refuses_duplicate_servers(capsys, data_dir, tmp_path):
    seed = data_dir / "ranktable_seed_2x4.json"
    code, _, err = _run(capsys, "merge", seed, seed, "-o", tmp_path / "m.json")
    assert code == 2 and "90.90.152.89" in err
    assert not (tmp_path / "m.json").exists()


def test_merge_of_invalid_result_exits_1(capsys, data_dir, tmp_path):
    src = json.loads((data_dir / "ranktable_hccl_tools_1server.json").read_text())
    for dev in src["server_list"][0]["device"]:
        del dev["device_ip"]
    a = tmp_path / "a.json"
    a.write_text(json.dumps(src))
    src["server_list"][0]["server_id"] = "10.155.111.141"
    b = tmp_path / "b.json"
    b.write_text(json.dumps(src))
    code, _, err = _run(capsys, "merge", a, b, "-o", tmp_path / "m.json")
    assert code == 1 and "device_ip" in err
    assert (tmp_path / "m.json").exists()


def test_schema(capsys):
    code, out, _ = _run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0
    assert schema["$defs"]["RankDevice"]["properties"]["rank_id"]["type"] == "string"


def test_module_entry_point(data_dir):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "console", "ranktable", "validate", str(data_dir / "ranktable_bad_interleaved.json")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("server_list[0].device[1].rank_id: error: ")


@pytest.mark.parametrize("argv", [["ranktable"], ["ranktable", "validate"]])
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
