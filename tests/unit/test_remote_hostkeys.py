"""known_hosts policy: parsed once while unchanged, re-read after any edit or record()."""

from __future__ import annotations

import asyncssh
import pytest

from console.core.errors import RemoteError
from console.remote.hostkeys import HostKeyPolicy


def pub(key: asyncssh.SSHKey) -> list[str]:
    return key.export_public_key("openssh").decode().split()[:2]


def line(host: str, key: asyncssh.SSHKey) -> str:
    return f"{host} {' '.join(pub(key))}\n"


@pytest.fixture
def keys() -> list[asyncssh.SSHKey]:
    return [asyncssh.generate_private_key("ssh-ed25519") for _ in range(3)]


async def test_known_hosts_parsed_once_while_unchanged(tmp_path, keys, monkeypatch) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(line("a", keys[0]))
    parses = []
    real = asyncssh.import_known_hosts
    monkeypatch.setattr(asyncssh, "import_known_hosts", lambda t: parses.append(t) or real(t))
    policy = HostKeyPolicy(accept_new=False)
    files = (kh, tmp_path / "missing")
    first = await policy.new_check(files)
    second = await policy.new_check(files)
    assert second.known is first.known and len(parses) == 1
    with kh.open("a") as f:  # another tool adds a host: seen on the next connection
        f.write(line("b", keys[1]))
    third = await policy.new_check(files)
    assert len(parses) == 2 and third.known.match("b", "", None)[0]


async def test_cached_keys_keep_unknown_and_changed_refused(tmp_path, keys) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(line("a", keys[0]))
    policy = HostKeyPolicy(accept_new=False)
    await policy.new_check((kh,))
    check = await policy.new_check((kh,))
    assert check.decide("a", "127.0.0.1", 22, keys[1]) is False and check.verdict == "changed"
    check = await policy.new_check((kh,))
    assert check.decide("z", "127.0.0.1", 22, keys[1]) is False and check.verdict == "unknown"


async def test_recorded_key_is_seen_by_the_next_check(tmp_path, keys) -> None:
    kh = tmp_path / "ssh" / "known_hosts"
    policy = HostKeyPolicy(accept_new=True)
    check = await policy.new_check((kh,))
    assert check.decide("n", "127.0.0.1", 2200, keys[2]) is True
    await policy.record(check, "n:2200")
    assert kh.read_text() == line("[n]:2200", keys[2])
    after = await policy.new_check((kh,))
    assert after.known.match("n", "127.0.0.1", 2200)[0]
    # a different key for the host just recorded is a CHANGED key, even with accept_new
    assert after.decide("n", "127.0.0.1", 2200, keys[0]) is False
    assert after.verdict == "changed"


async def test_unreadable_known_hosts_is_a_remote_error(tmp_path) -> None:
    folder = tmp_path / "kh"
    folder.mkdir()
    with pytest.raises(RemoteError) as info:
        await HostKeyPolicy(False).new_check((folder,))
    assert info.value.path == str(folder)
