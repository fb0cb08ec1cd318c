"""`cluster-console sim`: starts, prints how to reach the cluster, stops cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from console.cli import main

CLI = [sys.executable, "-m", "console"]


async def _start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *CLI, "sim", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def test_sim_prints_ssh_config_hosts_and_examples_then_stops_on_sigterm(tmp_path):
    proc = await _start(
        "--servers", "3", "--base-address", "127.0.0.41", "--dir", str(tmp_path / "c"), "--port", "0", "--json"
    )
    try:
        text = b""
        while not text.rstrip().endswith(b"}"):
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line, (await proc.stderr.read()).decode()
            text += line
        facts = json.loads(text)
        assert facts["hosts"] == "127.0.0.[41-43]"
        assert facts["ssh_config"] == str(tmp_path / "c" / "ssh_config")
        assert "discover '127.0.0.[41-43]'" in facts["examples"][1]
        ssh = await asyncio.create_subprocess_exec(
            "ssh",
            "-F",
            facts["ssh_config"],
            "127.0.0.43",
            "hostname",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(ssh.communicate(), 60)
        assert out == b"node03\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(proc.wait(), 30)
    assert rc == 0


def test_sim_input_errors_exit_2(tmp_path, capsys):
    assert main(["sim", "--spec", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml" in capsys.readouterr().err
    assert main(["sim", "--servers", "2", "--cards", "9"]) == 2
    assert "cards must be" in capsys.readouterr().err


def test_sim_bad_generated_field_is_named(capsys):
    assert main(["sim", "--base-address", "10.0.0.1"]) == 2
    err = capsys.readouterr().err
    assert "servers[0].address: 10.0.0.1 is not a loopback address" in err
    assert "validation error for" not in err
