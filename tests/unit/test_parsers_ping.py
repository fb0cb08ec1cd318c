"""hccn_tool -ping -g and -hccs_ping -g parsers, on the real samples in tests/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.parsers import (
    HccsPingReport,
    PingReport,
    Unparsed,
    parse_hccs_ping,
    parse_ping,
)


def read(data_dir: Path, name: str) -> str:
    return (data_dir / name).read_text()


def one_report(text: str) -> PingReport:
    reports = parse_ping(text)
    assert len(reports) == 1, reports
    assert isinstance(reports[0], PingReport), reports[0]
    return reports[0]


def test_success_block(data_dir: Path) -> None:
    text = read(data_dir, "hccn_ping_ok.txt")
    r = one_report(text)
    assert (r.src_device, r.dst_ip, r.ipv6) == (0, "10.10.100.10", False)
    assert [(p.seq, p.time_ms, p.lost) for p in r.replies] == [(0, 0.067, False), (1, 0.049, False), (2, 0.047, False)]
    assert (r.transmitted, r.received, r.loss_pct, r.status) == (3, 3, 0.0, "ok")
    assert r.errors == []
    assert r.rtt_min == 0.047 and r.rtt_max == 0.067
    assert r.rtt_avg == pytest.approx((0.067 + 0.049 + 0.047) / 3)
    assert r.raw == text.rstrip("\n")


def test_guide_typo_time_dash_parses(data_dir: Path) -> None:
    r = one_report(read(data_dir, "hccn_ping_ok_guide_typo.txt"))
    assert [p.time_ms for p in r.replies] == [0.067, 0.049, 0.047]
    assert r.status == "ok"


def test_guide_loss_without_header_and_seq_letter_o(data_dir: Path) -> None:
    r = one_report(read(data_dir, "hccn_ping_loss_guide.txt"))
    assert (r.src_device, r.dst_ip) == (None, None)
    assert r.replies[0].seq == 0 and r.replies[0].lost and r.replies[0].time_ms is None
    assert [p.seq for p in r.replies] == [0, 1, 2]
    assert (r.transmitted, r.received, r.loss_pct) == (3, 2, 33.33)
    assert r.status == "loss"
    assert (r.rtt_min, r.rtt_max) == (0.066, 0.097)  # over answered probes only
    assert r.rtt_avg == pytest.approx((0.097 + 0.066) / 2)


def test_all_lost(data_dir: Path) -> None:
    r = one_report(read(data_dir, "hccn_ping_all_lost.txt"))
    assert (r.src_device, r.dst_ip) == (3, "10.10.100.25")
    assert all(p.lost for p in r.replies) and len(r.replies) == 3
    assert (r.transmitted, r.received, r.loss_pct, r.status) == (3, 0, 100.0, "loss")
    assert (r.rtt_min, r.rtt_avg, r.rtt_max) == (None, None, None)


def test_link_down(data_dir: Path) -> None:
    r = one_report(read(data_dir, "hccn_ping_link_down.txt"))
    assert r.status == "link_down"
    assert r.errors == ["Execute failed: Link status is down.", "Command execute failed!"]
    assert (r.transmitted, r.received, r.loss_pct) == (None, None, None)


def test_loop_of_four_devices(data_dir: Path) -> None:
    text = read(data_dir, "hccn_ping_loop_4dev.txt")
    reports = parse_ping(text)
    assert [r.src_device for r in reports] == [0, 1, 2, 3]
    assert all(isinstance(r, PingReport) and r.status == "ok" for r in reports)
    assert [r.replies[0].time_ms for r in reports] == [0.050, 0.051, 0.052, 0.053]
    assert "\n".join(r.raw for r in reports) == text.rstrip("\n")


def test_concatenated_mixed_outcomes(data_dir: Path) -> None:
    """A loop where device 1's link is down (no header) and the guide paste comes last."""
    text = "\n".join(
        [
            read(data_dir, "hccn_ping_ok.txt"),
            read(data_dir, "hccn_ping_link_down.txt"),
            read(data_dir, "hccn_ping_all_lost.txt"),
            read(data_dir, "hccn_ping_loss_guide.txt"),
        ]
    )
    reports = parse_ping(text)
    assert [r.status for r in reports] == ["ok", "link_down", "loss", "loss"]
    assert [r.loss_pct for r in reports] == [0.0, None, 100.0, 33.33]


def test_header_then_link_down_stays_one_block() -> None:
    text = "device 4 PING 10.0.0.9\nExecute failed: Link status is down.\nCommand execute failed!\n"
    r = one_report(text)
    assert (r.src_device, r.dst_ip, r.status) == (4, "10.0.0.9", "link_down")


def test_destination_unreachable() -> None:
    text = (
        "device 2 PING 10.0.0.7\nDestination Host Unreachable\nDestination Host Unreachable\n"
        "recv time out seq=2\n3 packets transmitted, 0 received, 100.00% packet loss\n"
    )
    r = one_report(text)
    assert r.status == "unreachable"
    assert r.errors == ["Destination Host Unreachable"] * 2
    assert (r.transmitted, r.received) == (3, 0)


def test_message_too_long_is_an_error() -> None:
    text = (
        "device 0 PING 10.0.0.7\nMessage too long\nMessage too long\nMessage too long\n"
        "3 packets transmitted, 0 received, 100.00% packet loss\n"
    )
    r = one_report(text)
    assert r.status == "error" and r.errors == ["Message too long"] * 3


def test_ipv6_header() -> None:
    text = (
        "device 1 PING6 fd00::12\nrecv seq=0,time=0.070000ms\nrecv seq=1,time=0.060000ms\n"
        "recv seq=2,time=0.050000ms\n3 packets transmitted, 3 received, 0.00% packet loss\n"
    )
    r = one_report(text)
    assert (r.src_device, r.dst_ip, r.ipv6, r.status) == (1, "fd00::12", True, "ok")


def test_busy_is_an_error_report() -> None:
    r = one_report("hccn_tool is busy, please try again.\n")
    assert r.status == "error" and r.errors == ["hccn_tool is busy, please try again."]


def test_partial_loss_with_header_counts_from_summary() -> None:
    text = (
        "device 5 PING 10.0.0.3\nrecv seq=0,time=0.050000ms\nrecv time out seq=1\n"
        "recv seq=2,time=0.040000ms\n3 packets transmitted, 2 received, 33.33% packet loss\n"
    )
    r = one_report(text)
    assert [p.lost for p in r.replies] == [False, True, False]
    assert (r.status, r.loss_pct) == ("loss", 33.33)


def test_truncated_block_has_no_counts() -> None:
    r = one_report("device 0 PING 10.0.0.1\nrecv seq=0,time=0.050000ms\nrecv time out seq=1\n")
    assert (r.transmitted, r.received, r.loss_pct) == (None, None, None)
    assert r.status == "loss"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty output"),
        ("bash: hccn_tool: command not found\n", "no ping header"),
        ("device 0 PING 10.0.0.1\n", "header without"),
    ],
)
def test_not_ping_output_is_unparsed(text: str, reason: str) -> None:
    [r] = parse_ping(text)
    assert isinstance(r, Unparsed) and reason in r.reason and r.raw == text.rstrip("\n")


def test_unknown_line_next_to_a_valid_block() -> None:
    reports = parse_ping(
        "=== node A ===\ndevice 0 PING 10.0.0.1\nrecv seq=0,time=0.050000ms\n"
        "1 packets transmitted, 1 received, 0.00% packet loss\n"
    )
    assert isinstance(reports[0], Unparsed) and reports[0].raw == "=== node A ==="
    assert isinstance(reports[1], PingReport) and reports[1].status == "ok"


def test_rtt_in_json_dump(data_dir: Path) -> None:
    dumped = one_report(read(data_dir, "hccn_ping_ok.txt")).model_dump()
    assert dumped["rtt_min"] == 0.047 and dumped["kind"] == "ping"


# ---------------------------------------------------------------- hccs_ping (A3)


def test_hccs_ping_sample(data_dir: Path) -> None:
    [r] = parse_hccs_ping(read(data_dir, "hccn_hccs_ping_a3.txt"))
    assert isinstance(r, HccsPingReport)
    assert (r.src_device, r.dst_ip) == (0, "10.20.0.17")
    assert r.pkt_results == ["ping success"]
    assert [(p.seq, p.time_us, p.l1_check) for p in r.packets] == [
        (0, 12.345, "0x0"),
        (1, 11.020, "0x0"),
        (2, 11.870, "0x0"),
    ]
    assert (r.transmitted, r.received, r.loss_pct, r.status) == (3, 3, 0.0, "ok")
    assert (r.max_us, r.min_us, r.avg_us, r.tp95_us) == (12.345, 11.020, 11.745, 12.345)


def test_hccs_ping_two_runs_and_send_fail(data_dir: Path) -> None:
    failed = "device 1 PING 10.20.0.18\nThis pkt send fail!\n3 packets transmitted, 0 received, 100.00% packets loss\n"
    reports = parse_hccs_ping(read(data_dir, "hccn_hccs_ping_a3.txt") + failed)
    assert [r.status for r in reports] == ["ok", "loss"]
    assert reports[1].errors == ["This pkt send fail!"] and reports[1].packets == []


@pytest.mark.parametrize(
    "line, status",
    [
        ("The command is not supported on this product.", "error"),
        ("The device is occupied. Please try again later.", "error"),
        ("Execute failed: Link status is down.", "link_down"),
    ],
)
def test_hccs_ping_tool_errors(line: str, status: str) -> None:
    [r] = parse_hccs_ping(line + "\n")
    assert isinstance(r, HccsPingReport) and r.status == status and r.errors == [line]


def test_hccs_ping_unparsed() -> None:
    [r] = parse_hccs_ping("hello\n")
    assert isinstance(r, Unparsed)
