"""`cluster-console diagnose PATH` on a run record, on a folder of logs copied from servers and
on a single file: text and JSON output, exit codes 0/1/2."""

from __future__ import annotations

import json
from pathlib import Path

from console.cli import main
from tests.unit.pingfixtures import device_ip, host

DATA = Path(__file__).resolve().parents[1] / "data" / "diagnosis"


def _plog(ts: str, text: str) -> str:
    return f"[ERROR] HCCL(4242,python3):2026-01-05-{ts} [hccl_socket_manager.cc:1] [4242]{text}\n"


def _timeout(local: int, remote: int, ts: str) -> str:
    ls, ld, rs, rd = local // 2, local % 2, remote // 2, remote % 2
    return _plog(
        ts, f"[Wait][LinkEstablish]wait socket establish timeout, role[1] rank[{local}] timeout[120 s]"
    ) + _plog(
        ts,
        f"   |  {device_ip(rs, rd)}({remote})   |  16666  |   {device_ip(ls, ld)}({local})"
        "   |  1234  |  client  | time out |   DISABLE  | LinkInfo",
    )


def _record(tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "20260105-100000-abcd"
    run.mkdir(parents=True)
    servers = [
        {
            "server_id": host(s),
            "host": host(s),
            "ranks": [
                {
                    "rank": s * 2 + d,
                    "local_rank": d,
                    "device_id": d,
                    "device_ip": device_ip(s, d),
                    "env": {"HF_TOKEN": "hunter2"},
                    "command": "x",
                }
                for d in range(2)
            ],
        }
        for s in range(2)
    ]
    (run / "plan.json").write_text(json.dumps({"world_size": 4, "servers": servers}))
    events = [
        {
            "ts": 1.0,
            "event": "go",
            "clocks": {host(0): {"rtt_s": 0.001, "offset_s": 0.0}, host(1): {"rtt_s": 0.001, "offset_s": 30.0}},
        },
        {"ts": 200.0, "event": "exit", "rank": 1, "server": host(0), "code": 1},
    ]
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    # rank 3 (server 1) logs 20 s later by its own clock, which runs 30 s ahead: it came first
    (run / "rank-1.log").write_text("starting\n" + _timeout(1, 3, "10:02:10.000.000"))
    (run / "rank-3.log").write_text("starting\n" + _timeout(3, 1, "10:02:30.000.000"))
    (run / "rank-0.log").write_text("starting\n")
    return run


def test_run_record_json(tmp_path, capsys):
    run = _record(tmp_path)
    assert main(["diagnose", str(run), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= {"headline", "first", "causes", "links"}
    assert doc["first"]["rank"] == 3 and doc["first"]["server"] == host(1)
    c = doc["causes"][doc["first"]["index"]]
    assert (c["code"], c["cause"], c["phase"], c["ranks"], c["ports"]) == (
        "EI0006",
        "socket_timeout",
        "connect",
        [1, 3],
        [16666],
    )
    assert c["ips"] == [device_ip(1, 1), device_ip(0, 1)]
    assert c["lines"][0].startswith("rank-3.log:2: ")
    assert [lk["kind"] for lk in doc["links"]] == ["ping_untested"]


def test_run_record_with_ping_results(tmp_path, capsys):
    run = _record(tmp_path)
    probe = {
        "src_host": host(0),
        "src_server_id": host(0),
        "src_device": 1,
        "src_ip": device_ip(0, 1),
        "dst_host": host(1),
        "dst_server_id": host(1),
        "dst_device": 1,
        "dst_ip": device_ip(1, 1),
        "ipv6": False,
        "round": None,
        "transmitted": 3,
        "received": 2,
        "loss_pct": 33.33,
        "status": "loss",
        "exit_status": 0,
        "attempts": 1,
        "command": "hccn_tool ...",
        "raw": "",
        "errors": [],
    }
    (tmp_path / "ping.json").write_text(json.dumps({"pattern": "cross", "hosts": [], "pairs": [probe]}))
    assert main(["diagnose", str(run), "--ping", str(tmp_path / "ping.json")]) == 1
    out = capsys.readouterr().out
    headline = out.splitlines()[0]
    assert "33.33 % loss" in headline and host(0) in headline and host(1) in headline
    assert f"{host(0)} dev 1 → {host(1)} dev 1: 33.33 % loss" in out


def test_log_folder_one_subfolder_per_server(tmp_path, capsys):
    for i, name in enumerate(("node1", "node2")):
        d = tmp_path / name / "plog"
        d.mkdir(parents=True)
        (d / "plog-1.log").write_text(_timeout(i * 2, 2 - i * 2, f"10:02:0{i}.000.000"))
    (tmp_path / "node2" / "oom.log").write_text(
        "RuntimeError: NPU out of memory. Tried to allocate 2.00 GiB (NPU 1; 60 GiB)\n"
    )
    (tmp_path / "loose.txt").write_text("nothing wrong\n")
    assert main(["diagnose", str(tmp_path), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["first"]["cause"] == "device_oom" and doc["first"]["server"] == "node2"
    assert {c["server"] for c in doc["causes"]} == {"node1", "node2"}


def test_every_excerpt_file_diagnoses(capsys):
    for path in sorted(DATA.glob("*.txt")):
        assert main(["diagnose", str(path)]) == 1, path.name
    capsys.readouterr()


def test_clean_logs_exit_0_and_bad_path_exit_2(tmp_path, capsys):
    (tmp_path / "ok.log").write_text("all good\n")
    assert main(["diagnose", str(tmp_path)]) == 0
    assert "no known failure" in capsys.readouterr().out
    assert main(["diagnose", str(tmp_path / "missing")]) == 2
    assert "no such run record" in capsys.readouterr().err
    (tmp_path / "ping.json").write_text("{not json")
    assert main(["diagnose", str(tmp_path)]) == 2


def test_symlinked_logs_are_not_followed(tmp_path, capsys):
    secret = tmp_path / "outside.txt"
    secret.write_text("RuntimeError: NPU out of memory. Tried to allocate 2.00 GiB (NPU 1; 60 GiB)\n")
    logs = tmp_path / "logs"
    (logs / "node1").mkdir(parents=True)
    (logs / "node1" / "plog.log").symlink_to(secret)
    assert main(["diagnose", str(logs)]) == 0
    capsys.readouterr()


def test_big_files_are_read_head_and_tail(tmp_path, capsys):
    from console.ops import diagnosis_files as df

    big = tmp_path / "big.log"
    with big.open("w") as f:
        f.write("RuntimeError: NPU out of memory. Tried to allocate 2.00 GiB (NPU 1; 60 GiB)\n")
        f.write("filler line\n" * 400_000)
        f.write(_timeout(0, 2, "10:00:00.000.000"))
    data = df.read_bounded(big, head=1024, tail=4096)
    assert data is not None and len(data) < 6000 and b"bytes left out" in data
    assert main(["diagnose", str(big), "--json"]) == 1
    causes = {c["cause"] for c in json.loads(capsys.readouterr().out)["causes"]}
    assert causes == {"device_oom", "socket_timeout"}
