"""Over real OpenSSH: a secret ``--env`` value reaches the ranks and appears in no file of
the run record (``plan.json`` and ``events.jsonl`` show ``***``, rank logs too)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from console.core.ranktable.text import dumps
from tests.integration.test_launch_sshd import table_for
from tests.ops.test_launch_sim import free_port

pytestmark = [pytest.mark.system, pytest.mark.timeout(120)]

SECRET = "ghp_Secret-Token-9731"


def test_secret_env_value_is_in_no_file_of_the_run_record(sshd, sshd2, ssh_client, tmp_path):
    servers = [sshd, sshd2]
    table = tmp_path / "rt.json"
    table.write_text(dumps(table_for(servers)))
    opts = ssh_client.options()
    argv = [
        sys.executable,
        "-m",
        "console",
        "-F",
        str(opts.ssh_config),
        "-l",
        str(opts.user),
        "-i",
        str(opts.identities[0]),
        "--known-hosts",
        str(opts.known_hosts),
        "launch",
        "--ranktable",
        str(table),
        "--remote-ranktable",
        str(sshd.work_dir / "rt.json"),
        "--master-port",
        str(free_port()),
        "--run-dir",
        str(tmp_path / "runs"),
        "--env",
        f"GITHUB_TOKEN={SECRET}",
        "--json",
    ]
    for inst in servers:
        argv += ["--host", f"{inst.host}={inst.host}:{inst.port}"]
    argv += ["--", "bash", "-c", 'echo "token=$GITHUB_TOKEN"']
    out = subprocess.run(argv, capture_output=True, text=True, timeout=100, check=False)
    assert out.returncode == 0, out.stderr
    texts = [e.get("text") for e in map(json.loads, out.stdout.splitlines())]
    assert texts.count(f"token={SECRET}") == 4  # every rank got the real value
    (run,) = (tmp_path / "runs").iterdir()
    files = sorted(run.iterdir())
    assert [p.name for p in files if p.name.startswith("rank-")] == [f"rank-{r}.log" for r in range(4)]
    for p in files:
        assert SECRET.encode() not in p.read_bytes(), p.name
    plan = json.loads((run / "plan.json").read_text())
    assert {r["env"]["GITHUB_TOKEN"] for s in plan["servers"] for r in s["ranks"]} == {"***"}
