"""Benchmark: memory per million ping results and planning time for a million probes.

    python bench/ping_memory.py [--servers 363] [--cards 8] [--pattern rail] [--loss-every 100]

Plans the pattern over SERVERS x CARDS servers (an inventory built in memory, no SSH), timing
the planner; then feeds every probe a result parsed from a realistic ``hccn_tool -ping``
output (three packets with varying round-trip times; one probe in LOSS_EVERY loses a packet
and keeps its raw output uncompressed) through ``ResultTable.set``, the store the sweep engine
records into, and ends with a ``PingMatrix`` and its summary. Prints the process's resident
memory growth (plan + results, after garbage collection) per million probes next to the
200 MB target, and the planning time per million probes next to the 2 s target. The default
363 servers x 8 cards rail is 1,051,248 probes.

Then the Ping pane's model (``console.ui.models.ping.PingModel``, no textual) is fed the same
results as a sweep's ``ProbeDone`` events: its resident growth per million probes is printed
next to the same 200 MB target (the pane keeps its own compact copy of the results). Above 64
servers the pane draws groups of servers (blocks, as without LLDP): the model keeps their sums
while it is fed, and the time to compute every cell of the grouped heatmap (one redraw) is
printed next to the 50 ms target, with the time to sum the groups again from scratch (once
after a sweep ends or the groups change).
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.core.inventory import Device, Inventory, Server
from console.core.pingresults import PingMatrix, ProbeResult
from console.core.pingstore import ResultTable
from console.core.planning.ping import PATTERNS, plan_ping
from console.ops.ping import ProbeDone
from console.ui.models.ping import GROUP_OVER, PingModel, heatmap_groups

MB = 1 << 20
PREFIX = "timeout --foreground -k 2 15 "


def rss() -> int:
    """Resident set size of this process in bytes (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no VmRSS in /proc/self/status (Linux only)")


def inventory(servers: int, cards: int) -> Inventory:
    return Inventory(
        servers=[
            Server(
                host=f"10.1.{i // 250}.{i % 250 + 1}",
                server_id=f"10.1.{i // 250}.{i % 250 + 1}",
                reachable=True,
                product="A2",
                devices=[
                    Device(device_id=d, card=d, device_ip=f"10.{100 + i // 250}.{i % 250}.{d + 1}")
                    for d in range(cards)
                ],
            )
            for i in range(servers)
        ]
    )


def output(device: int, ip: str, rng: random.Random, lost: bool) -> str:
    times = [f"recv seq={n},time=0.0{rng.randint(10, 99)}{rng.randint(0, 999):03d}ms" for n in range(3)]
    if lost:
        times[1] = "recv time out seq=1"
    got = 2 if lost else 3
    summary = f"3 packets transmitted, {got} received, {'33.33' if lost else '0.00'}% packet loss"
    return "\n".join([f"device {device} PING {ip}", *times, summary]) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--servers", type=int, default=363)
    p.add_argument("--cards", type=int, default=8)
    p.add_argument("--pattern", default="rail", choices=[x for x in PATTERNS if x != "custom"])
    p.add_argument("--sample-k", type=int, default=None)
    p.add_argument("--loss-every", type=int, default=100, help="one probe in N loses a packet")
    args = p.parse_args()
    inv = inventory(args.servers, args.cards)
    rng = random.Random(1)
    gc.collect()
    base = rss()
    start = time.perf_counter()
    plan = plan_ping(inv, args.pattern, sample_k=args.sample_k)  # type: ignore[arg-type]
    plan_s = time.perf_counter() - start
    n = len(plan.probes)
    table = ResultTable(plan.probes)
    check = set(rng.sample(range(n), min(n, 1000)))
    kept: dict[int, str] = {}
    start = time.perf_counter()
    for i in range(n):
        probe = plan.probes.probe(i)
        text = output(probe.src_device, probe.dst_ip, rng, i % args.loss_every == 0)
        if i in check:
            kept[i] = text
        table.set(i, ProbeResult.from_output(probe, 0, text, rng.uniform(2.0, 2.2), command=PREFIX + probe.command))
    fill_s = time.perf_counter() - start
    matrix = PingMatrix(pattern=plan.pattern, hosts=plan.hosts, results=table, skipped=plan.skipped)
    summary = matrix.summary()
    gc.collect()
    grown = rss() - base
    exact = sum(matrix.results[i].raw == text for i, text in kept.items())
    per_m = grown / n * 1e6 / MB
    plan_per_m = plan_s / n * 1e6
    print(
        f"ping results: {args.servers} servers x {args.cards} cards, {args.pattern}, {n:,} probes "
        f"({summary['ok']:,} ok, {summary['lossy']:,} lossy)"
    )
    print(f"planning      {plan_s:8.2f} s   = {plan_per_m:6.2f} s per million probes   (target < 2 s)")
    print(
        f"memory        {grown / MB:8.1f} MB  = {per_m:6.1f} MB per million probes  (target < 200 MB; "
        f"resident growth for plan + results)"
    )
    print(
        f"  of which    {table.nbytes() / MB:8.1f} MB in arrays and compressed ok outputs, "
        f"{len(table.raws):,} raw outputs of not-ok probes kept as text"
    )
    print(f"raw output    {exact} of {len(kept)} sampled probes read back byte for byte")
    print(f"storing       {fill_s:8.2f} s   ({fill_s / n * 1e6:.1f} µs per probe, parsing included)")
    pane_m = pane_memory(plan, matrix)
    return 0 if per_m < 200 and pane_m < 200 and plan_per_m < 2 and exact == len(kept) else 1


REDRAW_TARGET_MS = 50


def pane_memory(plan, matrix: PingMatrix) -> float:
    """The Ping pane's model fed every result as a ``ProbeDone``: MB per million probes."""
    n = len(plan.probes)
    gc.collect()
    base = rss()
    model = PingModel()
    groups = heatmap_groups(list(plan.hosts), None)
    start = time.perf_counter()
    model.start(plan)
    if groups is not None:  # as the pane does: the grouped heatmap is on screen during the sweep
        model.set_groups(g.hosts for g in groups)
        model.group_cell(0, 0)
    for i in range(n):
        model.apply(ProbeDone(matrix.results.result(i), i + 1, n, None))
    feed_s = time.perf_counter() - start
    gc.collect()
    grown = rss() - base
    per_m = grown / n * 1e6 / MB
    print(
        f"pane model    {grown / MB:8.1f} MB  = {per_m:6.1f} MB per million probes  (target < 200 MB; "
        f"{model.nbytes() / MB:.1f} MB in its arrays; {feed_s / n * 1e6:.1f} µs per event)"
    )
    if groups is not None:
        grouped_redraw(model, [g.hosts for g in groups])
    else:
        print(f"grouped view  not drawn at {len(plan.hosts)} servers (only above {GROUP_OVER})")
    return per_m


def grouped_redraw(model: PingModel, hosts: list[list[str]]) -> None:
    """Every cell of the grouped heatmap: once from the kept sums, once summed from scratch."""
    groups = len(hosts)
    start = time.perf_counter()
    cells = [model.group_cell(a, b) for a in range(groups) for b in range(groups)]
    redraw_ms = (time.perf_counter() - start) * 1e3
    model.set_groups(hosts)  # the same groups: summed again at the next read
    start = time.perf_counter()
    again = [model.group_cell(a, b) for a in range(groups) for b in range(groups)]
    sum_ms = (time.perf_counter() - start) * 1e3
    same = "the same cells" if again == cells else "DIFFERENT cells"
    print(
        f"grouped view  {redraw_ms:8.1f} ms  to compute its {groups} x {groups} cells (target < {REDRAW_TARGET_MS} ms "
        f"at 1,024 servers); {sum_ms:.0f} ms to sum the groups from scratch ({same})"
    )


if __name__ == "__main__":
    sys.exit(main())
