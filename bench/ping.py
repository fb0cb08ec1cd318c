"""Benchmark: the ping sweep's scheduling overhead on a large simulated cluster.

    python bench/ping.py [--servers 64] [--cards 8] [--pattern rail|sample|...] [--sample-k K]
                         [--probe-s 2.0] [--per-card 1] [--tool native|fast|sim]

Starts SERVERS x CARDS simulated servers (``cluster-console sim`` in its own process, on
loopback; in this process with ``--tool sim``), plans the pattern
from the spec's inventory (no discovery: this measures the sweep only), runs the sweep and
prints its wall time, its lower bound and their ratio (target <= 1.10), the planning time per
million probes (target < 2 s) and the memory the plan and results take per million probes
(target < 200 MB).

Lower bound: with at most ``per_card`` probes per card at a time (and ``per_server`` per
server), a round whose busiest card must send n probes of t seconds each needs n * t /
per_card seconds; rounds run one after the other (``console.core.planning.estimate``, the
same figure the CLI prints before a sweep). Also printed: the same bound from the probes'
*measured* durations (on a CPU-starved machine a 2 s probe takes longer) and wall / that, the
engine's own overhead.

Memory: the bytes the plan's ``ProbeTable`` and the sweep's ``ResultTable`` hold (arrays and
compressed ok outputs), per million probes, and this process's resident growth over the sweep
(its SSH connections and lanes included; with ``--tool sim`` the simulated servers too).

Every probe takes a fixed ``--probe-s``. ``--tool native`` (default) replaces each simulated
server's hccn_tool by one small static C program (compiled here with ``cc -static``; ``fast``
when no compiler works) that sleeps that long and prints hccn_tool's success output;
``--tool fast`` by a POSIX sh script doing the same (``sleep`` is one more process start);
``--tool sim`` keeps the simulator's own hccn_tool (ping_probe_s = t/3 per packet: a sh
launcher and three ``sleep`` processes per probe). The console runs the same command in every
case (``timeout --foreground -k 2 T hccn_tool -i N -ping -g address IP``) and reads the same
output and exit status: the choice only sets how much of the two cores the simulated servers'
process starts take (measured here: ``timeout`` + sh + ``sleep`` about 3.5 ms of CPU per
probe, ``timeout`` + the static stub about 1.9 ms), which the bench prints apart ("tools CPU").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.core.inventory import Device, Inventory, Server
from console.core.pingresults import PingMatrix
from console.core.planning.estimate import estimate
from console.core.planning.ping import PingPlan, plan_ping
from console.ops.ping import ProbeDone, SweepDone, SweepOptions, sweep
from console.remote import Pool, SSHOptions
from console.sim import state
from console.sim.cluster import SimCluster
from console.sim.spec import ClusterSpec

MB = 1 << 20
SIM_READY_S = 900.0
FAST_TOOL = r"""#!/bin/sh
# bench stub: `hccn_tool -i N -ping -g address IP` answering after a fixed time
sleep %(probe_s)s
printf 'device %%s PING %%s\nrecv seq=0,time=0.067000ms\nrecv seq=1,time=0.049000ms\n' "$2" "$6"
printf 'recv seq=2,time=0.047000ms\n3 packets transmitted, 3 received, 0.00%%%% packet loss\n'
"""


NATIVE_TOOL = r"""/* bench stub: `hccn_tool -i N -ping -g address IP` answering after a fixed time */
#include <stdio.h>
#include <time.h>
int main(int argc, char **argv) {
    struct timespec t = {%(sec)d, %(nsec)d};
    while (nanosleep(&t, &t) != 0) {}
    printf("device %%s PING %%s\nrecv seq=0,time=0.067000ms\nrecv seq=1,time=0.049000ms\n"
           "recv seq=2,time=0.047000ms\n3 packets transmitted, 3 received, 0.00%%%% packet loss\n",
           argc > 2 ? argv[2] : "", argc > 6 ? argv[6] : "");
    return 0;
}
"""


def native_tool(workdir: Path, probe_s: float) -> Path | None:
    """The static C stub, compiled into ``workdir``; None when no C compiler can build it."""
    sec = int(probe_s)
    src, exe = workdir / "hccn_tool_stub.c", workdir / "hccn_tool_stub"
    src.write_text(NATIVE_TOOL % {"sec": sec, "nsec": min(round((probe_s - sec) * 1e9), 999_999_999)})
    try:
        subprocess.run(["cc", "-O2", "-static", "-o", str(exe), str(src)], check=True, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"  no static hccn_tool stub ({exc}): the sh stub instead", file=sys.stderr)
        return None
    return exe


def inventory(spec: ClusterSpec) -> Inventory:
    return Inventory(
        servers=[
            Server(
                host=s.address,
                server_id=s.address,
                reachable=True,
                product=s.product,
                devices=[Device(device_id=d.device_id, card=d.card_id, device_ip=d.ip) for d in s.devices],
            )
            for s in spec.servers
        ]
    )


def lanes_that_fit(servers: int, want: int) -> int:
    """Lanes per server the simulator can hold open: it runs every server in one process, and
    each session costs it three descriptors (stdin, stdout and stderr pipes, as sshd gives them)
    besides each server's listening and accepted sockets, under the open-file hard limit the
    sim inherits (20,000 on this machine: 8 lanes x 1,024 servers would need 26,600; real
    servers each have their own sshd and limit)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        return want
    return max(1, min(want, (hard - 2 * servers - 512) // (3 * servers)))


def lower_bound(plan: PingPlan, probe_s: float, per_card: int, per_server: int) -> float:
    return estimate(plan.probes, per_card=per_card, lanes=per_server, probe_s=probe_s).seconds


def measured_bound(matrix: PingMatrix, per_card: int) -> float:
    """Per round, the busiest card's summed measured durations / per_card; rounds add up."""
    table = matrix.results
    probes, durations = table.probes, table.floats["duration_s"]
    busiest: dict[int, Counter[int]] = {}
    for i in range(len(table)):
        d = durations[i]
        if not math.isnan(d):
            busiest.setdefault(probes.rounds[i], Counter())[probes.src[i]] += d / per_card
    return sum(max(c.values()) for c in busiest.values())


def raise_open_files() -> None:
    """Every lane is a process on the sim's side with its pipes, every server a connection on
    both: 1,024 servers x 8 lanes need some 30,000 descriptors. Raise the limit (as root, the
    hard one too; the sim process inherits it)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1 << 17
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@contextlib.asynccontextmanager
async def _simulated(
    spec: ClusterSpec, workdir: Path, args: argparse.Namespace
) -> AsyncIterator[tuple[Path, int | None]]:
    """The simulated cluster, its ssh_config yielded. ``--tool fast``: ``cluster-console sim``
    in its own process (its SSH servers get their own core), each server's hccn_tool then
    replaced by the stub; ``--tool sim``: in this process, the simulator's own hccn_tool."""
    if args.tool == "sim":
        args.tool_used = "sim"
        async with SimCluster(spec, workdir, port=0) as sim:
            yield sim.ssh_config_path, None
        return
    simdir = workdir / "sim"
    out, err = (workdir / "sim.out").open("w"), (workdir / "sim.err").open("w")
    cmd = [
        sys.executable,
        "-m",
        "console",
        "sim",
        "--servers",
        str(args.servers),
        "--cards",
        str(args.cards),
        "--dir",
        str(simdir),
        "--json",
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=out,
        stderr=err,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    out.close()
    err.close()
    try:
        deadline = time.monotonic() + SIM_READY_S
        while "simulated cluster running" not in (workdir / "sim.err").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"sim not running: {(workdir / 'sim.err').read_text()[-2000:]}")
            await asyncio.sleep(0.2)  # polling interval, bounded by the deadline above
        print(
            f"  sim of {args.servers} servers ready after {time.monotonic() - deadline + SIM_READY_S:.0f} s",
            file=sys.stderr,
        )
        native = native_tool(workdir, args.probe_s) if args.tool == "native" else None
        args.tool_used = "native" if native else "fast"
        for srv in spec.servers:
            tool = state.server_root(simdir, srv) / state.HCCN_TOOL
            tool.unlink()
            if native:
                os.link(native, tool)  # one file, 1,024 names
            else:
                tool.write_text(FAST_TOOL % {"probe_s": args.probe_s})
                tool.chmod(0o755)
        yield Path(json.loads((workdir / "sim.out").read_text())["ssh_config"]), proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def cpu_of(pid: int) -> tuple[float, float]:
    """CPU seconds of process ``pid`` itself and of its reaped children (the sim: its SSH
    servers; its lanes and the tools they ran)."""
    fields = [int(f) for f in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:15]]
    tick = os.sysconf("SC_CLK_TCK")
    return (fields[0] + fields[1]) / tick, (fields[2] + fields[3]) / tick


def console_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def bench(args: argparse.Namespace) -> dict[str, float]:
    spec = ClusterSpec.generate(
        servers=args.servers, cards=args.cards, ping_probe_s=args.probe_s / 3 if args.tool == "sim" else 0.0
    )
    inv = inventory(spec)
    rss0 = rss()
    t0 = time.perf_counter()
    plan = plan_ping(inv, args.pattern, sample_k=args.sample_k, seed=args.seed)
    plan_s = time.perf_counter() - t0
    fit = lanes_that_fit(args.servers, args.per_server)
    if fit < args.per_server:
        print(
            f"  --per-server {args.per_server} -> {fit}: the sim's open-file limit holds {fit} lanes per server",
            file=sys.stderr,
        )
        args.per_server = fit
    options = SweepOptions(
        per_card=args.per_card, per_server=args.per_server, probe_timeout=max(15.0, 5 * args.probe_s)
    )
    est = estimate(plan.probes, per_card=args.per_card, lanes=args.per_server, probe_s=args.probe_s)
    print(f"  {len(plan.probes):,} probes planned in {plan_s:.2f} s; {est.text()}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="cc-bench-ping-") as workdir:
        async with _simulated(spec, Path(workdir), args) as (ssh_config, sim_pid):
            ssh = SSHOptions(ssh_config=ssh_config, command_timeout=60)
            rss1 = rss()
            sim0 = cpu_of(sim_pid) if sim_pid else (0.0, 0.0)
            cpu0 = console_cpu()
            async with Pool(ssh) as pool:
                start = time.monotonic()
                matrix = None
                said = start
                first = None
                async for ev in sweep(pool, plan, options):
                    if isinstance(ev, ProbeDone) and first is None:
                        first = time.monotonic() - start
                        print(f"  first probe done after {first:.1f} s", file=sys.stderr)
                    if isinstance(ev, ProbeDone) and (time.monotonic() - said > 10 or ev.done == ev.total):
                        said = time.monotonic()
                        print(
                            f"  {ev.done}/{ev.total} probes after {said - start:.0f} s, eta {ev.eta_s or 0:.0f} s",
                            file=sys.stderr,
                        )
                    elif isinstance(ev, SweepDone):
                        matrix = ev.matrix
                wall = time.monotonic() - start
                grown = rss() - rss1
            cpu = console_cpu() - cpu0
            sim1 = cpu_of(sim_pid) if sim_pid else (math.nan, math.nan)
            sim_cpu, tools_cpu = sim1[0] - sim0[0], sim1[1] - sim0[1]
            load = os.getloadavg()
    assert matrix is not None
    summary = matrix.summary()
    if summary["ok"] != len(plan.probes):
        raise SystemExit(f"not every probe ok: {summary}")
    n = len(plan.probes)
    bound = lower_bound(plan, args.probe_s, args.per_card, min(args.per_server, ssh.max_channels))
    measured = measured_bound(matrix, args.per_card)
    return {
        "probes": n,
        "wall_s": wall,
        "bound_s": bound,
        "ratio": wall / bound,
        "measured_s": measured,
        "engine_ratio": wall / measured,
        "plan_s_per_m": plan_s / n * 1e6,
        "store_mb_per_m": matrix.results.nbytes() / n * 1e6 / MB,
        "rss_mb_per_m": grown / n * 1e6 / MB,
        "rss_before_mb": rss1 / MB,
        "rss0_mb": rss0 / MB,
        "console_cpu_s": cpu,
        "sim_cpu_s": sim_cpu,
        "tools_cpu_s": tools_cpu,
        "first_s": first or float("nan"),
        "load1": load[0],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--servers", type=int, default=64)
    p.add_argument("--cards", type=int, default=8)
    p.add_argument("--pattern", default="rail", choices=["cross", "rail", "pairwise", "sample"])
    p.add_argument("--sample-k", type=int, default=None, help="sample: probes per card (default: cover every pair)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--probe-s", type=float, default=2.0, help="seconds every probe takes")
    p.add_argument("--per-card", type=int, default=1)
    p.add_argument("--per-server", type=int, default=8)
    p.add_argument("--tool", choices=["native", "fast", "sim"], default="native")
    args = p.parse_args()
    raise_open_files()
    # SIGTERM ends the run like Ctrl-C: the sim process is stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    r = asyncio.run(bench(args))
    print(
        f"ping sweep: {args.servers} servers x {args.cards} cards, {args.pattern}, "
        f"{r['probes']:.0f} probes of {args.probe_s:g}s (--probe-s), per card {args.per_card}, "
        f"per server {args.per_server}, "
        f"hccn_tool stub: {args.tool_used}"
    )
    print(f"wall time    {r['wall_s']:8.2f} s")
    print(f"lower bound  {r['bound_s']:8.2f} s   (busiest card: probes x probe time / per-card)")
    print(f"ratio        {r['ratio']:8.3f}     (target <= 1.10)")
    print(
        f"measured     {r['measured_s']:8.2f} s   (busiest card: sum of its probes' measured "
        f"durations; > bound when the servers' CPU is saturated)"
    )
    print(f"engine ratio {r['engine_ratio']:8.3f}     (wall / measured: the sweep's own overhead)")
    print(f"first probe  {r['first_s']:8.2f} s   (lanes opened and the first probe answered)")
    print(
        f"console CPU  {r['console_cpu_s']:8.2f} s   ({r['console_cpu_s'] / r['probes'] * 1e6:.0f} us per probe; "
        f"this process)"
    )
    print(
        f"sim CPU      {r['sim_cpu_s']:8.2f} s   ({r['sim_cpu_s'] / r['probes'] * 1e6:.0f} us per probe; the sim's "
        f"SSH servers)"
    )
    print(
        f"tools CPU    {r['tools_cpu_s']:8.2f} s   ({r['tools_cpu_s'] / r['probes'] * 1e6:.0f} us per probe; the "
        f"lanes' shells and the processes they ran: timeout, hccn_tool, sleep)"
    )
    print(f"load average {r['load1']:8.2f}     (1 min, at the end; 2 cores)")
    few = " (too few probes to judge: bench/ping_memory.py plans a million)" if r["probes"] < 100_000 else ""
    print(f"planning     {r['plan_s_per_m']:8.2f} s per million probes   (target < 2 s){few}")
    print(f"memory       {r['store_mb_per_m']:8.1f} MB per million probes  (target < 200 MB; plan + results as stored)")
    print(
        f"process      {r['rss_mb_per_m']:8.1f} MB per million probes  (this process's resident growth over the "
        f"sweep: SSH connections and lanes included; {r['rss_before_mb']:.0f} MB before it)"
    )
    ok = r["ratio"] <= 1.10 and (r["plan_s_per_m"] < 2 or r["probes"] < 100_000) and r["store_mb_per_m"] < 200
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
