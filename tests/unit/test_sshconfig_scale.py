"""ssh_config resolution at cluster scale: one host of a 1,024-host file must not test every
Host block (that made discovery's per-server cost grow with the cluster), and skipping
blocks must give exactly what testing them one by one gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.remote import sshreader
from console.remote.sshconfig import Account, resolve_settings

ACCOUNT = Account(name="op", uid=1000, home="/home/op")


def big_config(n: int) -> str:
    parts = ["Host *.lab\n  User labuser\n"]
    for i in range(n):
        parts.append(
            f"Host node{i:04d} 10.0.{i // 256}.{i % 256}\n  HostName 10.1.{i // 256}.{i % 256}\n  Port {2000 + i % 7}\n"
        )
        if i == n // 2:
            parts.append("Match host node05*\n  User matched\nHost !node0001 node000?\n  Port 2999\n")
    parts.append("Host node0003 extra\n  IdentityFile ~/.ssh/id_three\nHost *\n  User everyone\n")
    return "".join(parts)


def resolve(cfg: Path, host: str) -> tuple:
    st = resolve_settings(host, config=cfg, system_config=cfg.parent / "none", account=ACCOUNT)
    return st.hostname, st.user, st.port, tuple(st.identity_paths)


def test_resolving_one_host_of_a_big_config_does_not_test_every_block(tmp_path, monkeypatch) -> None:
    cfg = tmp_path / "config"
    cfg.write_text(big_config(1024))
    calls = []
    real = sshreader._Reader._host

    def counting(self, block):
        calls.append(block)
        return real(self, block)

    monkeypatch.setattr(sshreader._Reader, "_host", counting)
    assert resolve(cfg, "node1000")[:3] == ("10.1.3.232", "everyone", 2000 + 1000 % 7)
    assert len(calls) < 10, len(calls)  # the wildcard blocks only, not 1,024 plain ones


@pytest.mark.parametrize(
    "host",
    [
        "node0000",
        "node0001",
        "node0003",
        "node0009",
        "node0512",
        "node0513",
        "node0599",
        "node1023",
        "10.0.2.5",
        "x.lab",
        "extra",
        "unknown",
    ],
)
def test_skipping_plain_blocks_resolves_like_testing_each_block(tmp_path, monkeypatch, host) -> None:
    cfg = tmp_path / "config"
    cfg.write_text(big_config(1024))
    fast = resolve(cfg, host)
    monkeypatch.setattr(sshreader, "_mark_runs", lambda blocks: None)
    sshreader._COMPILED.clear()
    try:
        assert resolve(cfg, host) == fast
    finally:
        sshreader._COMPILED.clear()
