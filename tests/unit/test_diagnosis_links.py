"""Every kind of link a diagnosis draws to discovery and the ping matrix, pinned field by field:
the link state of a card, TLS states when discovery made no finding, a pair never pinged, the
rank table's address next to the card discovery saw, a card with no process on it."""

from __future__ import annotations

from console.core.diagnosis import diagnose
from console.core.diagnosis.model import Cause, Link, RankPlace
from tests.unit.pingfixtures import device_ip, host, make_inventory


def _cause(cause: str, **more: object) -> Cause:
    return Cause(cause=cause, rule=cause, title=cause, **more)  # type: ignore[arg-type]


def test_link_state_of_the_card_for_link_down_and_for_a_timeout_on_a_card_whose_link_is_not_up() -> None:
    inv = make_inventory()
    inv.servers[1].devices[3].link = "DOWN"
    inv.servers[0].devices[2].link = "UP"
    causes = [
        _cause("link_down", server=host(1), device_id=3, rank=11),
        _cause("socket_timeout", server=host(0), device_id=2, rank=2, remote_server=host(1), remote_device_id=3),
        _cause("socket_timeout", server=host(1), device_id=3, rank=11, remote_server=host(0), remote_device_id=5),
    ]
    d = diagnose(causes, inventory=inv)
    state = Link(
        kind="link_state",
        cause_index=0,
        src_host=host(1),
        src_device=3,
        status="DOWN",
        message=f"discovery: {host(1)} dev 3 link DOWN",
        command=f"ssh {host(1)} hccn_tool -i 3 -link -g",
    )
    untested = Link(
        kind="ping_untested",
        cause_index=1,
        src_host=host(0),
        src_device=2,
        dst_host=host(1),
        dst_device=3,
        message=f"{host(0)} dev 2 → {host(1)} dev 3: never tested — ping this pair",
    )
    assert d.links[:2] == [state, untested]  # the card of rank 2 is UP: no link state for it
    assert d.links[2].kind == "ping_untested" and d.links[2].cause_index == 2
    assert d.links[3] == state.model_copy(update={"cause_index": 2})
    assert len(d.links) == 4


def test_a_pair_never_pinged_offers_the_ping_command_from_the_remote_ranks_address() -> None:
    places = [RankPlace(rank=11, server=host(1), device_id=3, device_ip=device_ip(1, 3))]
    cause = _cause(
        "socket_timeout", server=host(0), device_id=2, rank=2, remote_rank=11, remote_server=host(1), remote_device_id=3
    )
    (link,) = diagnose([cause], places=places).links
    assert link.command == f"ssh {host(0)} hccn_tool -i 2 -ping -g address {device_ip(1, 3)}"
    assert (link.src_host, link.src_device, link.dst_host, link.dst_device) == (host(0), 2, host(1), 3)


def test_tls_states_from_discovery_when_it_made_no_tls_finding() -> None:
    inv = make_inventory()
    for s in inv.servers:
        for d in s.devices:
            d.tls = s is inv.servers[0] and d.device_id < 2
    (link,) = diagnose([_cause("tls_mismatch")], inventory=inv).links
    off = ", ".join(f"{host(0)}:{n}" for n in range(2, 8))
    on = f"{host(0)}:0, {host(0)}:1"
    assert link == Link(kind="tls", cause_index=0, message=f"discovery: TLS off on {off}; on on {on}")
    for s in inv.servers:
        for d in s.devices:
            d.tls = True
    assert diagnose([_cause("tls_mismatch")], inventory=inv).links == []


def test_discovery_ip_and_a_card_without_processes_pinned() -> None:
    inv = make_inventory()
    ip = _cause("ranktable_ip_mismatch", server=host(1), device_id=3, fields={"actual_ip": device_ip(1, 3)})
    oom = _cause("device_oom", server=host(1), device_id=4)
    d = diagnose([ip, oom], inventory=inv)
    assert d.links == [
        Link(
            kind="discovery_ip",
            cause_index=0,
            src_host=host(1),
            src_device=3,
            status=device_ip(1, 3),
            message=f"discovery: {host(1)} dev 3 has {device_ip(1, 3)}; the rank table says ?",
            command=f"ssh {host(1)} hccn_tool -i 3 -ip -g",
        ),
        Link(
            kind="npu_processes",
            cause_index=1,
            src_host=host(1),
            src_device=4,
            message=f"npu-smi at discovery: no process on {host(1)} dev 4",
            command=f"ssh {host(1)} npu-smi info",
        ),
    ]
