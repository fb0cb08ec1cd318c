"""known_hosts policy: parsed once while unchanged, re-read after any edit or record()."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from console.core.errors import RemoteError
from console.remote.hostkeys import HostKeyPolicy


def pub(key: asyncssh.SSHKey) -> list[str]:
    return key.export_public_key("openssh").decode().split()[:2]


def line(host: str, key: asyncssh.SSHKey) -> str:
    return f"{host} {' '.join(pub(key))}\n"


def trusted(check, host: str, addr: str, port: int) -> list[list[str]]:
    return [pub(k) for k in check.trusted(host, addr, port)[0]]


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


# ---- lookups and StrictHostKeyChecking as OpenSSH (issue 10 item 9, issue 15 item 5) -------


async def test_key_stored_for_port_22_makes_another_port_unknown_not_changed(tmp_path, keys) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(line("node1", keys[0]))  # recorded for port 22
    check = await HostKeyPolicy(accept_new=False).new_check((kh,))
    assert check.decide("node1", "10.0.0.1", 2222, keys[1]) is False
    assert check.verdict == "unknown"  # ssh: "No ED25519 host key is known for [node1]:2222"
    err = check.error("node1:2222", "node1", 2222)
    assert err is not None and err.title == "host key unknown" and "[node1]:2222" in err.detail
    # the very key recorded without the port is trusted on any port, as ssh does
    assert pub(keys[0]) in trusted(check, "node1", "10.0.0.1", 2222)
    # once [node1]:2222 has its own key, that one decides: a different key is CHANGED
    kh.write_text(line("node1", keys[0]) + line("[node1]:2222", keys[2]))
    check = await HostKeyPolicy(accept_new=True).new_check((kh,))
    assert trusted(check, "node1", "", 2222) == [pub(keys[2])]
    assert check.decide("node1", "10.0.0.1", 2222, keys[0]) is False and check.verdict == "changed"


async def test_accept_new_on_another_port_records_host_and_port(tmp_path, keys) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(line("node1", keys[0]))
    policy = HostKeyPolicy(accept_new=True)
    check = await policy.new_check((kh,))
    assert check.decide("node1", "10.0.0.1", 2222, keys[1]) is True
    await policy.record(check, "node1:2222")
    assert kh.read_text().splitlines()[-1] == line("[node1]:2222", keys[1]).strip()


async def test_addresses_are_not_looked_up_by_ip(tmp_path, keys) -> None:
    """ssh's CheckHostIP is off by default: a key recorded for the address does not vouch for
    a name that resolves to it."""
    kh = tmp_path / "known_hosts"
    kh.write_text(line("10.0.0.1", keys[0]))
    check = await HostKeyPolicy().new_check((kh,))
    assert trusted(check, "node1", "10.0.0.1", 22) == []


async def test_global_known_hosts_are_consulted_but_never_written(tmp_path, keys) -> None:
    user, system = tmp_path / "kh", tmp_path / "global_kh"
    system.write_text(line("node1", keys[0]))
    policy = HostKeyPolicy(accept_new=True)
    check = await policy.new_check((user,), (system,))
    assert pub(keys[0]) in trusted(check, "node1", "", 22)
    assert check.decide("node1", "", 22, keys[1]) is False and check.verdict == "changed"
    check = await policy.new_check((user,), (system,))
    assert check.decide("node2", "", 22, keys[1]) is True
    await policy.record(check, "node2")
    assert system.read_text() == line("node1", keys[0])
    assert user.read_text() == line("node2", keys[1])


async def test_host_key_alias_is_looked_up_without_port(tmp_path, keys) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(line("cluster-head", keys[0]))
    check = await HostKeyPolicy().new_check((kh,), alias="cluster-head")
    assert pub(keys[0]) in trusted(check, "10.0.0.1", "", 2222)


async def test_strict_no_accepts_unknown_and_changed_keys_loudly(tmp_path, keys, caplog) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(line("old", keys[0]))
    policy = HostKeyPolicy(accept_new=False)
    check = await policy.new_check((kh,), strict="no")
    assert check.decide("new", "", 22, keys[1]) is True and check.verdict == "accepted"
    with caplog.at_level("WARNING", logger="console.remote.hostkeys"):
        await policy.record(check, "new")
    assert "NOT VERIFIED" in caplog.text and "Permanently added 'new'" in caplog.text
    assert kh.read_text().endswith(line("new", keys[1]))
    caplog.clear()
    check = await policy.new_check((kh,), strict="no")
    assert check.decide("old", "", 22, keys[2]) is True and check.verdict == "changed-allowed"
    with caplog.at_level("WARNING", logger="console.remote.hostkeys"):
        await policy.record(check, "old")
    assert "HOST KEY CHANGED for old" in caplog.text and "StrictHostKeyChecking is 'no'" in caplog.text
    assert line("old", keys[2]) not in kh.read_text()  # a changed key is never recorded


async def test_strict_no_with_dev_null_records_nothing(tmp_path, keys) -> None:
    policy = HostKeyPolicy()
    check = await policy.new_check((Path("/dev/null"),), strict="no")
    assert check.decide("fresh-1", "", 22, keys[0]) is True
    await policy.record(check, "fresh-1")
    again = await policy.new_check((Path("/dev/null"),), strict="no")
    assert trusted(again, "fresh-1", "", 22) == []


@pytest.mark.parametrize("strict", ["yes", "ask"])
async def test_strict_yes_and_ask_refuse_unknown_keys(tmp_path, keys, strict) -> None:
    check = await HostKeyPolicy().new_check((tmp_path / "kh",), strict=strict)
    assert check.decide("n", "", 22, keys[0]) is False and check.verdict == "unknown"


async def test_hash_known_hosts_records_a_hashed_name_that_matches(tmp_path, keys) -> None:
    kh = tmp_path / "known_hosts"
    policy = HostKeyPolicy(accept_new=True)
    check = await policy.new_check((kh,), hash_names=True)
    assert check.decide("node9", "", 2222, keys[0]) is True
    await policy.record(check, "node9:2222")
    assert kh.read_text().startswith("|1|") and "node9" not in kh.read_text()
    after = await policy.new_check((kh,))
    assert trusted(after, "node9", "", 2222) == [pub(keys[0])]
