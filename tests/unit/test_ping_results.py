"""Ping results: status from real hccn_tool outputs, aggregates, JSON/CSV exports, views, retry."""

from __future__ import annotations

import csv
import io
import json

import pytest

from console.core.inventory import Inventory
from console.core.pingresults import PingMatrix, ProbeResult
from console.core.pingview import card_view, render_text, server_view
from console.core.planning.ping import PingPlan, Probe, plan_ping, plan_retry
from tests.unit.pingfixtures import host, make_inventory, make_server


def _sample(data_dir, name: str) -> str:
    return (data_dir / name).read_text()


def _probe(src_dev: int = 0, dst_ip: str = "10.10.100.10", dst_dev: int = 0) -> Probe:
    return Probe(
        src_host="a", src_device=src_dev, src_ip="10.10.100.1", dst_host="b", dst_device=dst_dev, dst_ip=dst_ip
    )


def _as_probe_output(sample: str, probe: Probe) -> str:
    """A real sample re-addressed to the probe: only the header line changes."""
    body = [line for line in sample.splitlines() if not line.startswith("device ")]
    return "\n".join([f"device {probe.src_device} PING {probe.dst_ip}", *body]) + "\n"


# -- one probe --------------------------------------------------------------------------------


def test_ok_sample(data_dir):
    text = _sample(data_dir, "hccn_ping_ok.txt")
    r = ProbeResult.from_output(_probe(), 0, text, duration_s=0.4)
    assert r.status == "ok"
    assert (r.transmitted, r.received, r.loss_pct) == (3, 3, 0.0)
    assert r.rtt_min_ms == pytest.approx(0.047) and r.rtt_max_ms == pytest.approx(0.067)
    assert r.rtt_avg_ms == pytest.approx((0.067 + 0.049 + 0.047) / 3)
    assert r.raw == text and r.command == "hccn_tool -i 0 -ping -g address 10.10.100.10"
    assert r.exit_status == 0 and r.attempts == 1 and r.duration_s == 0.4


def test_loss_sample_from_the_guide(data_dir):
    # headerless paste from the MindIE guide; the tool exits non-zero when it loses packets
    r = ProbeResult.from_output(_probe(), 1, _sample(data_dir, "hccn_ping_loss_guide.txt"))
    assert r.status == "loss"
    assert (r.transmitted, r.received, r.loss_pct) == (3, 2, pytest.approx(33.33))
    assert r.rtt_min_ms == pytest.approx(0.066) and r.rtt_max_ms == pytest.approx(0.097)


def test_all_lost_sample_is_unreachable(data_dir):
    r = ProbeResult.from_output(_probe(3, "10.10.100.25"), 1, _sample(data_dir, "hccn_ping_all_lost.txt"))
    assert r.status == "unreachable"
    assert (r.received, r.loss_pct) == (0, 100.0)
    assert r.rtt_avg_ms is None


def test_link_down_sample(data_dir):
    text = _sample(data_dir, "hccn_ping_link_down.txt")
    r = ProbeResult.from_output(_probe(), 1, text)
    assert r.status == "link_down"
    assert r.loss_pct is None and r.raw == text
    assert "Execute failed: Link status is down." in r.errors


def test_nonzero_exit_with_zero_loss_is_an_error(data_dir):
    r = ProbeResult.from_output(_probe(), 2, _sample(data_dir, "hccn_ping_ok.txt"))
    assert r.status == "error"
    assert r.loss_pct == 0.0 and any("exit status 2" in e for e in r.errors)


def test_unparsed_output_is_an_error_keeping_raw():
    r = ProbeResult.from_output(_probe(), 0, "bash: hccn_tool: command not found\n")
    assert r.status == "error" and r.raw == "bash: hccn_tool: command not found\n"
    assert r.errors and r.is_busy is False


def test_busy_is_an_error_the_engine_may_retry():
    r = ProbeResult.from_output(_probe(), 1, "hccn_tool is busy, please try again.\n")
    assert r.status == "error" and r.is_busy is True


def test_output_for_another_destination_is_an_error(data_dir):
    r = ProbeResult.from_output(_probe(0, "10.10.100.99"), 0, _sample(data_dir, "hccn_ping_ok.txt"))
    assert r.status == "error" and any("10.10.100.10" in e for e in r.errors)


def test_timeout_and_skipped():
    t = ProbeResult.timeout(_probe(), 5, output="device 0 PING 10.10.100.10\n", attempts=2)
    assert t.status == "timeout" and t.attempts == 2 and "5 s" in t.errors[0]
    assert t.raw == "device 0 PING 10.10.100.10\n" and t.command == _probe().command
    s = ProbeResult.skipped(_probe(), "a.example: connection lost")
    assert s.status == "skipped" and s.errors == ["a.example: connection lost"]


def test_custom_command_is_recorded():
    cmd = "timeout 5 hccn_tool -i 0 -ping -g address 10.10.100.10"
    r = ProbeResult.from_output(_probe(), 124, "device 0 PING 10.10.100.10\n", command=cmd)
    assert r.command == cmd and r.status == "timeout"


# -- the matrix -------------------------------------------------------------------------------


@pytest.fixture
def swept(data_dir) -> tuple[PingPlan, PingMatrix]:
    """2x8 cross sweep: card 2 of server 1 loses a third, card 5 of server 1 has its link down."""
    plan = plan_ping(make_inventory(2, 8))
    ok, loss = _sample(data_dir, "hccn_ping_ok.txt"), _sample(data_dir, "hccn_ping_loss_guide.txt")
    down = _sample(data_dir, "hccn_ping_link_down.txt")
    results = []
    for p in plan.probes:
        if p.src_host == host(1) and p.src_device == 5:
            results.append(ProbeResult.from_output(p, 1, down))
        elif p.dst_host == host(1) and p.dst_device == 2:
            results.append(ProbeResult.from_output(p, 1, _as_probe_output(loss, p)))
        else:
            results.append(ProbeResult.from_output(p, 0, _as_probe_output(ok, p)))
    return plan, PingMatrix.from_plan(plan, results)


def test_summary_counts(swept):
    _, m = swept
    assert m.summary() == {"probes": 128, "ok": 112, "lossy": 8, "failed": 8, "skipped": 0, "excluded": 0}
    assert m.exit_code() == 1


def test_all_ok_exit_code_zero(data_dir):
    plan = plan_ping(make_inventory(2, 2), "rail")
    ok = _sample(data_dir, "hccn_ping_ok.txt")
    results = [ProbeResult.from_output(p, 0, _as_probe_output(ok, p)) for p in plan.probes]
    m = PingMatrix.from_plan(plan, results)
    assert m.summary()["ok"] == 4 and m.exit_code() == 0


def test_from_plan_marks_missing_results_skipped(swept):
    plan, m = swept
    partial = PingMatrix.from_plan(plan, m.results[:100])
    assert partial.summary()["skipped"] == 28 and partial.summary()["probes"] == 128
    assert all("not run" in r.errors[0] for r in partial.results[100:])
    assert partial.exit_code() == 1


def test_server_pair_stats(swept):
    _, m = swept
    stats = {(s.src_host, s.dst_host): s for s in m.pair_stats()}
    to_b, to_a = stats[(host(0), host(1))], stats[(host(1), host(0))]
    assert to_b.probes == 64 and to_b.tested == 64 and to_b.untested == 0
    assert to_b.counts == {"ok": 56, "loss": 8}
    assert to_b.worst_loss_pct == pytest.approx(33.33)
    assert to_b.mean_loss_pct == pytest.approx(33.33 * 8 / 64)
    assert to_a.counts == {"ok": 56, "link_down": 8}
    assert to_a.worst_loss_pct == 0.0 and to_a.worst_status == "link_down"


def test_rail_stats(swept):
    _, m = swept
    rails = {r.device: r for r in m.rail_stats()}
    assert sorted(rails) == list(range(8))
    assert rails[2].counts == {"ok": 1, "loss": 1} and rails[2].worst_loss_pct == pytest.approx(33.33)
    assert rails[5].counts == {"ok": 1, "link_down": 1}
    assert rails[0].counts == {"ok": 2} and rails[0].probes == 2


def test_json_shape(swept):
    _, m = swept
    doc = json.loads(json.dumps(m.to_json()))
    assert doc["pattern"] == "cross"
    assert set(doc["summary"]) >= {"probes", "ok", "lossy", "failed"}
    assert len(doc["pairs"]) == 128
    pair = doc["pairs"][0]
    for key in (
        "src_host",
        "src_device",
        "src_ip",
        "dst_host",
        "dst_device",
        "dst_ip",
        "transmitted",
        "received",
        "loss_pct",
        "status",
        "command",
        "raw",
    ):
        assert key in pair
    lossy = [p for p in doc["pairs"] if p["status"] == "loss"]
    assert len(lossy) == 8 and all(p["dst_device"] == 2 and p["loss_pct"] == 33.33 for p in lossy)
    assert lossy[0]["command"] == f"hccn_tool -i {lossy[0]['src_device']} -ping -g address 10.20.1.3"
    pairs = {(s["src_host"], s["dst_host"]) for s in doc["server_pairs"]}
    assert pairs == {(host(0), host(1)), (host(1), host(0))}


def test_csv_header_and_rows(swept):
    _, m = swept
    rows = list(csv.reader(io.StringIO(m.to_csv())))
    header, body = rows[0], rows[1:]
    assert header[:6] == ["src_host", "src_device", "src_ip", "dst_host", "dst_device", "dst_ip"]
    assert {"loss_pct", "status", "command", "raw"} <= set(header)
    assert len(body) == 128
    first = dict(zip(header, body[0], strict=True))
    assert first["status"] == "ok" and first["loss_pct"] == "0.0" and first["raw"].startswith("device 0 PING")
    assert first["raw"].count("\n") == 5  # multi-line raw output survives the round trip


def test_skips_in_json(data_dir):
    plan = plan_ping(make_inventory(2, 2, no_ip=(1,)))
    m = PingMatrix.from_plan(plan, [])
    doc = m.to_json()
    assert doc["summary"]["excluded"] == 2 and len(doc["skipped"]) == 2
    assert doc["skipped"][0]["reason"] == "no device IP"


# -- views ------------------------------------------------------------------------------------


def test_server_view(swept):
    _, m = swept
    view = server_view(m)
    assert view.row_labels == [host(0), host(1)] and view.col_labels == [host(0), host(1)]
    assert view.cells[0][0].status == "self"
    cell = view.cells[0][1]  # both directions merged: loss to card 2 and card 5's link down
    assert cell.status == "link_down" and cell.bad == 16 and cell.tested == 128
    text = render_text(view)
    assert "DOWN 16/128" in text and host(1) in text.splitlines()[1]


def test_card_view(swept):
    _, m = swept
    view = card_view(m, host(0), host(1))
    assert len(view.cells) == 8 and all(len(row) == 8 for row in view.cells)
    assert view.cells[0][2].text == "33%" and view.cells[0][2].status == "loss"
    assert view.cells[0][5].text == "DOWN" and view.cells[1][1].text == "0%"
    directed = card_view(m, host(0), host(1), directed=True)
    assert directed.cells[0][5].text == "0%"  # server 0 -> card 5 of server 1 got through
    assert "33%" in render_text(view)


def test_undirected_views_say_both_directions(swept):
    _, m = swept
    merged, directed = server_view(m), server_view(m, directed=True)
    assert merged.corner == "server ↔ server" and "both directions" in merged.title
    assert directed.corner == "src \\ dst" and "both directions" not in directed.title
    assert render_text(merged).splitlines()[1].startswith("server ↔ server")


def test_card_view_axes_name_their_host(swept):
    _, m = swept
    view = card_view(m, host(0), host(1))
    assert "both directions" in view.title
    lines = render_text(view).splitlines()
    assert lines[1] == f"{host(1)} dev →"  # the columns' axis, above the column labels
    assert lines[2].startswith(f"{host(0)} dev ↓") and lines[2].split()[-8:] == [str(i) for i in range(8)]
    assert card_view(m, host(0), host(1), directed=True).title.startswith(f"{host(0)} -> {host(1)}")


def test_view_of_untested_pair(data_dir):
    plan = plan_ping(make_inventory(3, 2), "custom", custom_text=f"{host(0)}:0 {host(1)}:0\n")
    m = PingMatrix.from_plan(plan, [])
    view = server_view(m)
    assert view.cells[0][2].status == "untested" and view.cells[0][2].text == "-"
    assert view.cells[0][1].status == "skipped"


def test_views_mark_left_out_servers_and_devices(data_dir):
    servers = [make_server(0, 2), make_server(1, 2, no_ip=(1,)), make_server(2, 2, reachable=False)]
    inv = Inventory(servers=servers)
    m = PingMatrix.from_plan(plan_ping(inv), [])
    assert server_view(m).cells[0][2].text == "skip"
    card = card_view(m, host(0), host(1))
    assert [c.text for c in card.cells[0]] == ["skip", "skip"]  # planned-not-run, then no IP
    assert card.cells[0][1].status == "skipped" and card.col_labels == ["0", "1"]


# -- retry ------------------------------------------------------------------------------------


def test_plan_retry_reruns_only_failed_and_lossy(swept):
    _, m = swept
    retry = plan_retry(m.results)
    assert retry.pattern == "retry" and len(retry.probes) == 16
    assert all(p.dst_device == 2 or p.src_device == 5 for p in retry.probes)


def test_plan_retry_repacks_pairwise_rounds(data_dir):
    plan = plan_ping(make_inventory(2, 4), "pairwise")
    loss = _sample(data_dir, "hccn_ping_loss_guide.txt")
    results = [ProbeResult.from_output(p, 1, loss) for p in plan.probes]
    retry = plan_retry(results)
    assert len(retry.probes) == 16 and len(retry.rounds()) == 4
    for batch in retry.rounds():
        ends = [(p.src_host, p.src_device) for p in batch] + [(p.dst_host, p.dst_device) for p in batch]
        assert len(ends) == len(set(ends))


def test_with_retries_replaces_and_counts_attempts(swept, data_dir):
    _, m = swept
    retry = plan_retry(m.results)
    ok = _sample(data_dir, "hccn_ping_ok.txt")
    again = [ProbeResult.from_output(p, 0, _as_probe_output(ok, p)) for p in retry.probes]
    merged = m.with_retries(again)
    assert merged.summary()["ok"] == 128 and merged.exit_code() == 0
    assert merged.pattern == "cross"
    assert sorted({r.attempts for r in merged.results}) == [1, 2]
