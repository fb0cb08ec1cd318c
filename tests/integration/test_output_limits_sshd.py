"""Bounded output over real OpenSSH: a server printing 200 MB without a newline leaves the
console under 300 MB, both for a plain command (``Pool.run``: "output too large", exit 3)
and for a launched rank (the agent channel). The console side runs in a process of its own
(``tests.memory``); the assertions are on its peak resident set, not on time.
"""

from __future__ import annotations

import json
import sys

import pytest

from console.core.ranktable.text import dumps
from console.remote import Pool
from tests.integration.test_launch_sshd import table_for
from tests.ops.test_launch_sim import free_port
from tests.ops.test_output_limits import BIG, BUDGET, LIMIT_MB, budget_run, measure

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]


def target(inst) -> str:
    return f"{inst.host}:{inst.port}"


async def test_pool_run_of_200mb_is_output_too_large_under_300mb(sshd, ssh_client) -> None:
    opts = ssh_client.options(command_timeout=120)
    got = await measure("run", opts.model_dump_json(), target(sshd), BIG)
    assert got.get("type") == "OutputTooLarge", got
    assert got["error"] == "output too large" and got["exit_code"] == 3
    assert got["host"] == target(sshd) and got["command"] == BIG
    assert got["hwm_mb"] < LIMIT_MB, got


async def test_rank_printing_200mb_without_newline_leaves_the_console_small(sshd, sshd2, ssh_client, tmp_path) -> None:
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
        "--log-cap",
        "1M",
        "--json",
    ]
    for inst in servers:
        argv += ["--host", f"{inst.host}={target(inst)}"]
    argv += ["--", "bash", "-c", f'if [ "$RANK" = 0 ]; then {BIG}; fi; echo done']
    got = await measure("exec", *argv)
    assert got["rc"] == 0, got["stderr"]
    assert got["maxrss_mb"] < LIMIT_MB, got
    (run,) = (tmp_path / "runs").iterdir()
    log = (run / "rank-0.log").read_bytes()
    assert log.startswith(b"x" * 1000) and b"log truncated" in log
    assert json.loads((run / "events.jsonl").read_text().splitlines()[-1])["event"] == "finished"


async def test_many_commands_at_once_stay_within_the_pools_byte_budget(sshd, sshd2, ssh_client, ssh_shared_dir):
    """Two real servers, 8 commands of 200 KiB each against a 512 KiB pool budget (see
    ``budget_run``): some are ended naming host and budget, the console never holds more."""
    options = ssh_client.options(output_limit=256 * 1024, output_budget=BUDGET)
    async with Pool(options) as pool:
        await budget_run(pool, [target(sshd), target(sshd2)], ssh_shared_dir / "release")
