"""A rank table's ``server_id`` must never reach ssh_config's ``%h`` (issue 10, item 2).

The attack: ``server_id`` ``[x:1 '-oProxyCommand=touch FILE' z]`` with an ssh_config whose
``ProxyCommand ssh -W %h:%p jump`` is split into words after ``%h`` is expanded, so the inner
OpenSSH receives ``-oProxyCommand=touch FILE`` as an option and runs it on the console host.
The ProxyCommand here is a wrapper that logs every start and then execs the real ``ssh``: on
the old code both the log (a connection was attempted) and FILE (the command ran) appear.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.system import need

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def trap(tmp_path: Path) -> dict[str, Path]:
    ssh = shutil.which("ssh")
    need(ssh is not None, "the OpenSSH client (ssh) is not installed")
    log, planted = tmp_path / "proxy-started.log", tmp_path / "pwned"
    wrapper = tmp_path / "proxy.sh"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {ssh} "$@"\n')
    wrapper.chmod(0o700)
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host *\n  ProxyCommand {wrapper} -F /dev/null -o BatchMode=yes -o ConnectTimeout=3 -W %h:%p 127.0.0.1\n"
    )
    server_id = f"[x:1 '-oProxyCommand=touch {planted}' z]"
    table = {
        "status": "completed",
        "version": "1.0",
        "server_count": "1",
        "server_list": [
            {
                "server_id": server_id,
                "container_ip": "10.0.0.1",
                "device": [{"device_id": "0", "device_ip": "10.1.0.1", "rank_id": "0"}],
            }
        ],
    }
    rt = tmp_path / "evil.json"
    rt.write_text(json.dumps(table))
    hostfile = tmp_path / "hosts.txt"
    hostfile.write_text(f"node1\n{server_id}\n")
    return {
        "config": config,
        "log": log,
        "planted": planted,
        "table": rt,
        "hostfile": hostfile,
        "server_id": Path(server_id),
    }


def _cli(trap: dict[str, Path], *argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "console", "-F", str(trap["config"]), "--connect-timeout", "5", *argv],
        capture_output=True,
        text=True,
        cwd=trap["config"].parent,
        env=env,
        timeout=120,
        check=False,
    )


def _nothing_ran(trap: dict[str, Path]) -> None:
    assert not trap["planted"].exists(), "the injected ProxyCommand ran on the console host"
    assert not trap["log"].exists(), "a connection was attempted: " + trap["log"].read_text()


def test_launch_refuses_the_server_id_before_any_connection(trap) -> None:
    proc = _cli(
        trap,
        "launch",
        "--ranktable",
        str(trap["table"]),
        "--run-dir",
        str(trap["config"].parent / "runs"),
        "--",
        "true",
    )
    _nothing_ran(trap)
    assert proc.returncode == 1, proc.stderr
    assert "server_list[0].server_id" in proc.stderr
    assert str(trap["server_id"]) in proc.stderr and "whitespace" in proc.stderr


def test_probe_refuses_the_server_id_before_any_connection(trap) -> None:
    proc = _cli(
        trap,
        "probe",
        "--ranktable",
        str(trap["table"]),
        "--backend",
        "gloo",
        "--run-dir",
        str(trap["config"].parent / "runs"),
    )
    _nothing_ran(trap)
    assert proc.returncode == 1, proc.stderr
    assert "server_list[0].server_id" in proc.stderr


def test_ranktable_validate_names_the_path(trap) -> None:
    proc = _cli(trap, "ranktable", "validate", str(trap["table"]), "--json")
    assert proc.returncode == 1, proc.stderr
    problems = json.loads(proc.stdout)["problems"]
    assert [(p["path"], p["rule"]) for p in problems if p["severity"] == "error"] == [
        ("server_list[0].server_id", "server_id_invalid")
    ]


@pytest.mark.parametrize("how", ["argument", "hostfile", "host-mapping"])
def test_discover_and_host_mappings_refuse_it_with_exit_2(trap, how) -> None:
    sid = str(trap["server_id"])
    if how == "argument":
        proc = _cli(trap, "discover", sid)
    elif how == "hostfile":
        proc = _cli(trap, "discover", f"@{trap['hostfile']}")
    else:  # a clean table, the evil name given as the SSH target of its server
        table = json.loads(trap["table"].read_text())
        table["server_list"][0]["server_id"] = "10.9.9.9"
        clean = trap["table"].with_name("clean.json")
        clean.write_text(json.dumps(table))
        proc = _cli(
            trap,
            "launch",
            "--ranktable",
            str(clean),
            "--host",
            f"10.9.9.9={sid}",
            "--run-dir",
            str(trap["config"].parent / "runs"),
            "--",
            "true",
        )
    _nothing_ran(trap)
    assert proc.returncode == 2, proc.stderr
    assert "-oProxyCommand=touch" in proc.stderr and "Traceback" not in proc.stderr
    if how == "hostfile":
        assert f"{trap['hostfile']}:2" in proc.stderr
