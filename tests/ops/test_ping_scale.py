"""`ping` sized to the cluster: rail by default above 16 servers, the probe count and the
estimated time printed before anything runs, and the sample pattern end to end on the sim."""

from __future__ import annotations

import json

from tests.ops.test_json_pinned import cli


async def test_above_16_servers_rail_is_the_default_and_the_estimate_comes_first(sim_factory) -> None:
    sim = await sim_factory(servers=17, cards=2)
    rc, out, err = await cli("-F", str(sim.ssh_config_path), "--connect-timeout", "5", "ping", *sim.hosts, "--estimate")
    assert rc == 0, err
    assert out == ""  # --estimate runs no probe and prints no matrix
    assert "17 servers: pattern rail (above 16 servers; every card pair: --pattern cross)" in err
    # rail: each card pings its peer on the 16 others: 17 x 2 x 16 probes, 16 per card in a row
    assert "rail over 17/17 servers: 544 probes, about 48 s (16 waves of ~3 s; 1 per card, 8 per server)" in err


async def test_cross_stays_explicit_and_sample_runs_to_the_end(sim_factory) -> None:
    sim = await sim_factory(servers=17, cards=2)
    base = ("-F", str(sim.ssh_config_path), "--connect-timeout", "5", "ping", *sim.hosts)
    rc, _, err = await cli(*base, "--pattern", "cross", "--estimate")
    assert rc == 0 and "cross over 17/17 servers: 1,088 probes" in err and "pattern rail" not in err
    rc, out, err = await cli(*base, "--pattern", "sample", "--seed", "4", "--json")
    assert rc == 0, err
    # 17 servers of 2 cards: 8 pair classes / 2 cards = 4 rounds of one probe per card
    assert "sample over 17/17 servers: 136 probes, 4 rounds" in err
    doc = json.loads(out)
    assert doc["pattern"] == "sample" and doc["summary"]["ok"] == 136
    pairs = {frozenset((p["src_host"], p["dst_host"])) for p in doc["pairs"]}
    assert len(pairs) == 17 * 16 // 2
    assert sorted({p["round"] for p in doc["pairs"]}) == [0, 1, 2, 3]


async def test_sample_k_without_sample_is_a_usage_error() -> None:
    rc, out, err = await cli("ping", "127.0.0.1", "--sample-k", "3")
    assert rc == 2 and out == "" and "--sample-k goes with --pattern sample" in err
