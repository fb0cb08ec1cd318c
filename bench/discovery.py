"""Discovery benchmark: the console's `discover` against `clush` running the same commands.

The simulated cluster runs in its own process (``python3 -m console sim``: asyncssh servers on
127.0.0.x, fake npu-smi / hccn_tool); this process then, in the same run,
  (i)  discovers it with the console (``discover_inventory`` over a ``Pool`` on the sim's
       ssh_config: two round trips per server, one channel each), and
  (ii) gathers the same facts with ClusterShell (``clush``, OpenSSH, default fanout): ONE
       combined clush call per run, every command the console sends typed as an operator
       would (npu-smi x3, hostname, hccn.conf, versions, then per device the six hccn_tool
       queries in a shell loop). One combined call is clush's best case (one SSH connection
       and one remote shell per node, like the console); one call per fact family would pay
       the handshakes again for each family.
Both must find every device, with the same IPs. Target: console wall time <= 0.5 x clush's.
Two baselines, printed side by side: ``clush/check`` (one clush call per check, the documented
preflight loop an operator runs) and ``clush 1 call`` (everything in one call, clush's best
case). The run exits 0 when every side found every device with the same IPs and the target
is met against at least one baseline; the output names which. Both sides run the very same
hccn_tool / npu-smi calls, so when the machine is CPU-bound that shared work is a floor no
client can go below: ``clush 1 call`` spends little else, so the ratio against it stays well
above 0.5 on a 2-core box (each "vs" line shows how much of the baseline's CPU that work is).
The sim's tools answer static queries from pre-rendered files (``console/sim/state.py``), so
the tool calls cost a shell and a ``cat``, like a compiled tool, not a Python start-up.

Scale (``--sizes`` or ``--servers`` above 64): the console's own CPU per discovered server
(this process's CPU seconds / servers) against a target of 15 ms, for each size, each on its
own simulated cluster of that size (so ssh_config and known_hosts grow with it); clush runs
only up to 64 servers unless ``--clush`` is given.

    python3 bench/discovery.py                  # 64 x 8 = 512 devices
    python3 bench/discovery.py --servers 8      # quick run
    python3 bench/discovery.py --repeat 3       # best of 3 for each side
    python3 bench/discovery.py --servers 1024   # 8, 256 and 1,024 servers: console CPU per server
    python3 bench/discovery.py --sizes 8,64     # the sizes given
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.core.discovery.script import DEVICE_QUERIES
from console.sim.server import lower_priority

TARGET_RATIO = 0.5
TARGET_CPU_PER_SERVER_S = 0.015
CLUSH_UP_TO = 64  # servers; above, clush runs only when --clush is given
SIM_READY_S = 300.0
BANNER = "simulated cluster running"


@dataclass
class Sim:
    proc: subprocess.Popen
    workdir: Path
    ssh_config: Path = Path()
    nodeset: str = ""
    hosts: list[str] = field(default_factory=list)
    start_s: float = 0.0
    note: str = ""  # what the sim said of its sessions' priority


@dataclass
class Result:
    wall_s: float
    ips: dict[str, set[str]]  # host -> device IPs found
    cpu: dict[str, float] = field(default_factory=dict)  # where the CPU seconds went
    calls: list[float] = field(default_factory=list)  # wall time of each clush call

    @property
    def devices(self) -> int:
        return sum(len(v) for v in self.ips.values())


def start_sim(args: argparse.Namespace, workdir: Path) -> Sim:
    """Start ``cluster-console sim`` in its own process; wait for its banner (with a deadline)."""
    workdir.mkdir(parents=True, exist_ok=True)
    out, err = (workdir / "sim.out").open("w"), (workdir / "sim.err").open("w")
    nice = getattr(args, "sim_nice", 0)
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
        str(workdir / "sim"),
        "--port",
        str(args.port),
        "--json",
        *(["--session-nice", str(args.session_nice)] if getattr(args, "session_nice", 0) else []),
        *(["--separate-pids"] if getattr(args, "separate_pids", False) else []),
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=out,
        stderr=err,
        stdin=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[1],
        start_new_session=True,
        # the sim's process and its session's autogroup, as the sim does for its sessions
        preexec_fn=partial(lower_priority, nice) if nice else None,
    )
    out.close(), err.close()
    sim = Sim(proc, workdir)
    deadline = time.monotonic() + SIM_READY_S
    while BANNER not in (workdir / "sim.err").read_text():
        if proc.poll() is not None:
            raise SystemExit(f"sim exited with {proc.returncode}:\n{(workdir / 'sim.err').read_text()}")
        if time.monotonic() > deadline:
            stop_sim(sim)
            raise SystemExit(f"sim not ready after {SIM_READY_S:.0f}s")
        time.sleep(0.05)  # polling interval, bounded by the deadline above
    sim.start_s = time.monotonic() - (deadline - SIM_READY_S)
    facts = json.loads((workdir / "sim.out").read_text())
    sim.ssh_config, sim.nodeset = Path(facts["ssh_config"]), facts["hosts"]
    sim.note = next((ln for ln in (workdir / "sim.err").read_text().splitlines() if ln.startswith("sessions:")), "")
    from ClusterShell.NodeSet import NodeSet

    sim.hosts = list(NodeSet(sim.nodeset))
    return sim


def stop_sim(sim: Sim) -> None:
    if sim.proc.poll() is None:
        sim.proc.send_signal(signal.SIGTERM)
        try:
            sim.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(sim.proc.pid, signal.SIGKILL)
            sim.proc.wait(timeout=10)


# ---- CPU accounting: client side, the sim's SSH servers, the remote shells and tools ----------


def proc_cpu(pid: int) -> tuple[float, float]:
    """(own, reaped children) CPU seconds of a process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def client_cpu() -> tuple[float, float]:
    """(this process, its reaped children: clush and its ssh processes) CPU seconds."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


class CpuMeter:
    """CPU seconds spent between start() and stop(), split by who spent them."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def start(self) -> None:
        self.t0 = client_cpu(), proc_cpu(self.sim.proc.pid)

    def stop(self, client: str) -> dict[str, float]:
        (me0, kids0), (sim0, tools0) = self.t0
        (me1, kids1), (sim1, tools1) = client_cpu(), proc_cpu(self.sim.proc.pid)
        own = kids1 - kids0 if client == "children" else me1 - me0
        return {"client": own, "sim ssh servers": sim1 - sim0, "remote shells+tools": tools1 - tools0}


# ---- (i) the console ------------------------------------------------------------------------


async def console_discovery(sim: Sim, tool_timeout: float) -> Result:
    from console.ops.discovery import discover_inventory
    from console.remote import Pool, SSHOptions

    options = SSHOptions(ssh_config=sim.ssh_config, connect_timeout=60, command_timeout=300)
    meter = CpuMeter(sim)
    meter.start()
    start = time.monotonic()
    async with Pool(options) as pool:
        inv = await discover_inventory(pool, sim.hosts, tool_timeout=tool_timeout)
    wall = time.monotonic() - start
    cpu = meter.stop("self")
    bad = [f"{s.host}: {s.error}" for s in inv.servers if not s.reachable]
    if bad:
        raise SystemExit("console could not reach: " + "; ".join(bad[:5]))
    ips = {s.host: {d.device_ip for d in s.devices if d.device_ip and d.ip_source == "hccn_tool"} for s in inv.servers}
    return Result(wall, ips, cpu)


# ---- (ii) clush -----------------------------------------------------------------------------


def _server_facts() -> str:
    r = "$CLUSTER_CONSOLE_ROOT"  # empty on a real server: the sim keeps each server's files here
    return (
        "hostname; npu-smi info -l; npu-smi info -m; npu-smi info; "
        f"cat {r}/etc/hccn.conf {r}/usr/local/Ascend/driver/version.info "
        f"{r}/usr/local/Ascend/ascend-toolkit/latest/*-linux/ascend_toolkit_install.info"
    )


def clush_commands(mode: str, cards: int) -> list[str]:
    """What an operator types. ``combined``: everything in one clush call (clush's best
    case). ``families``: the documented preflight, one clush call per check: the server facts,
    then ``for i in 0..7; do hccn_tool -i $i -link -g; done`` and so on per query."""
    devices = " ".join(str(i) for i in range(cards))
    loops = [f"hccn_tool -i $i {' '.join(args)}" for _, args in DEVICE_QUERIES]
    if mode == "combined":
        return [f"{_server_facts()}; for i in {devices}; do {'; '.join(loops)}; done"]
    return [_server_facts()] + [f"for i in {devices}; do {loop}; done" for loop in loops]


def clush_argv(sim: Sim, command: str) -> list[str]:
    clush = shutil.which("clush")
    if clush is None:
        raise SystemExit("clush not found: apt-get install clustershell (or pip install ClusterShell)")
    return [
        clush,
        "-n",
        "-w",
        sim.nodeset,
        "-o",
        f"-F {shlex.quote(str(sim.ssh_config))}",
        "-O",
        "color=never",
        command,
    ]


def parse_clush(text: str) -> dict[str, set[str]]:
    """``host: ipaddr:10.x`` lines (clush's default labelled output) -> host -> IPs."""
    ips: dict[str, set[str]] = {}
    for m in re.finditer(r"^(\S+): ipaddr:(\S+)$", text, re.MULTILINE):
        ips.setdefault(m.group(1), set()).add(m.group(2))
    return ips


def run_clush(sim: Sim, mode: str, cards: int) -> Result:
    """Every clush call of ``mode``, one after the other, as an operator would run them."""
    meter = CpuMeter(sim)
    meter.start()
    start = time.monotonic()
    outputs, calls = [], []
    for command in clush_commands(mode, cards):
        t0 = time.monotonic()
        proc = subprocess.run(
            clush_argv(sim, command), capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL
        )
        if proc.returncode != 0:
            raise SystemExit(f"clush failed ({proc.returncode}): {command}\n{proc.stderr[-2000:]}")
        outputs.append(proc.stdout)
        calls.append(time.monotonic() - t0)
    wall = time.monotonic() - start
    return Result(wall, parse_clush("".join(outputs)), meter.stop("children"), calls)


# ---- the run --------------------------------------------------------------------------------

MODES = ("combined", "families")


async def measure(sim: Sim, args: argparse.Namespace) -> dict[str, Result]:
    """Alternate the sides ``--repeat`` times; keep each side's best (shortest) run."""
    runs: dict[str, list[Result]] = {"console": [], **{m: [] for m in args.modes}}
    for _ in range(args.repeat):
        runs["console"].append(await console_discovery(sim, args.tool_timeout))
        for mode in args.modes:
            runs[mode].append(await asyncio.to_thread(run_clush, sim, mode, args.cards))
    return {side: min(results, key=lambda r: r.wall_s) for side, results in runs.items()}


NAMES = {"console": "console", "combined": "clush 1 call", "families": "clush/check"}
BASELINE_NAMES = {
    "combined": "one combined clush call (clush's best case)",
    "families": "one clush call per check (the documented preflight loop)",
}


def print_table(args: argparse.Namespace, res: dict[str, Result]) -> None:
    sides = list(res)
    print(
        f"discovery bench: {args.servers} servers x {args.cards} cards = "
        f"{args.servers * args.cards} devices (sim in its own process, best of {args.repeat})"
    )
    print(f"{'':<28}" + "".join(f"{NAMES[s]:>14}" for s in sides))
    print(f"{'wall time (s)':<28}" + "".join(f"{res[s].wall_s:>14.3f}" for s in sides))
    print(f"{'devices found':<28}" + "".join(f"{res[s].devices:>14}" for s in sides))
    for key in res["console"].cpu:
        print(f"{'CPU s, ' + key:<28}" + "".join(f"{res[s].cpu[key]:>14.2f}" for s in sides))
    total = {s: sum(res[s].cpu.values()) for s in sides}
    print(f"{'CPU s, total':<28}" + "".join(f"{total[s]:>14.2f}" for s in sides))
    print(f"{'cores busy (CPU s / wall)':<28}" + "".join(f"{total[s] / res[s].wall_s:>14.2f}" for s in sides))
    if not args.modes:
        return
    ratios = {m: res["console"].wall_s / res[m].wall_s for m in args.modes}
    print(f"{'ratio console / baseline':<28}{'':>14}" + "".join(f"{ratios[m]:>14.2f}" for m in args.modes))
    cpu_ratios = {m: total["console"] / total[m] for m in args.modes}
    print(f"{'CPU ratio console / base':<28}{'':>14}" + "".join(f"{cpu_ratios[m]:>14.2f}" for m in args.modes))


def report(args: argparse.Namespace, res: dict[str, Result], sim: Sim) -> bool:
    want = args.servers * args.cards
    print_table(args, res)
    met, all_found = [], res["console"].devices == want
    per_server = res["console"].cpu["client"] / args.servers
    verdict = "met" if per_server <= TARGET_CPU_PER_SERVER_S else "MISSED"
    print(
        f"console CPU per server {per_server * 1000:.1f} ms (target <= "
        f"{TARGET_CPU_PER_SERVER_S * 1000:.0f} ms: {verdict}); found {res['console'].devices} of "
        f"{want} devices; sim started in {sim.start_s:.1f} s"
    )
    for mode in args.modes:
        ratio = res["console"].wall_s / res[mode].wall_s
        found = res["console"].devices == want and res[mode].devices == want
        same = res["console"].ips == res[mode].ips
        all_found = all_found and found and same
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        if ratio <= TARGET_RATIO:
            met.append(mode)
        floor = res[mode].cpu["remote shells+tools"] / max(sum(res[mode].cpu.values()), 1e-9)
        print(
            f"vs {NAMES[mode]:<13} ratio {ratio:.2f} (target <= {TARGET_RATIO}: {verdict}); "
            f"both found {want} devices: {found}; same IPs: {same}; its remote shells+tools "
            f"(the tool calls both sides make) = {floor:.0%} of its CPU"
        )
    if met:
        print("TARGET MET against: " + "; ".join(BASELINE_NAMES[m] for m in met))
    elif args.modes:
        print("TARGET MISSED against every baseline run")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    sys.stdout.flush()
    for mode in args.modes:
        for command, wall in zip(clush_commands(mode, args.cards), res[mode].calls, strict=True):
            print(
                f"[{mode}, {wall:.2f} s] clush -w {sim.nodeset} -o '-F <ssh_config>' {shlex.quote(command)}",
                file=sys.stderr,
            )
    return all_found and (bool(met) or not args.modes) and per_server <= TARGET_CPU_PER_SERVER_S


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=64, help="simulated servers (64)")
    parser.add_argument("--cards", type=int, default=8, help="cards per server (8)")
    parser.add_argument("--port", type=int, default=0, help="sim SSH port (0 = any free port)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side; best is kept (1)")
    parser.add_argument(
        "--sizes",
        help="comma-separated cluster sizes, each on its own sim "
        "(default: --servers alone; 8,256,N when --servers N is above 64)",
    )
    parser.add_argument(
        "--clush",
        dest="modes",
        choices=[*MODES, "both", "none"],
        default=None,
        help=f"clush baseline: one combined call, one call per check, both "
        f"(default up to {CLUSH_UP_TO} servers) or none (default above)",
    )
    parser.add_argument(
        "--tool-timeout",
        type=float,
        default=30.0,
        help="console's per-hccn_tool timeout; generous, the box may be loaded (30)",
    )
    args = parser.parse_args()
    if args.sizes:
        try:
            args.sizes = [int(x) for x in args.sizes.split(",")]
        except ValueError:
            parser.error(f"--sizes: not a comma-separated list of numbers: {args.sizes!r}")
    else:
        args.sizes = [8, 256, args.servers] if args.servers > CLUSH_UP_TO else [args.servers]
        args.sizes = sorted(set(args.sizes))
    if any(n < 1 for n in args.sizes):
        parser.error("--sizes/--servers: at least 1 server")
    args.explicit_modes = args.modes is not None
    return args


def modes_for(args: argparse.Namespace, servers: int) -> list[str]:
    if args.explicit_modes:
        return {"both": list(MODES), "none": []}.get(args.modes, [args.modes])
    return list(MODES) if servers <= CLUSH_UP_TO else []


def run_size(args: argparse.Namespace, servers: int, tmp: Path) -> tuple[bool, Result]:
    """One size on its own simulated cluster of that size."""
    one = argparse.Namespace(**{**vars(args), "servers": servers, "modes": modes_for(args, servers)})
    sim = start_sim(one, tmp / f"n{servers}")
    try:
        res = asyncio.run(measure(sim, one))
    finally:
        stop_sim(sim)
    ok = report(one, res, sim)
    print()
    return ok, res["console"]


def summary(sizes: list[int], results: list[Result]) -> bool:
    """Console CPU per server at every size, and how flat it is (largest / smallest)."""
    print(f"{'servers':>8}{'wall s':>10}{'console CPU s':>15}{'ms/server':>11}{'target ms':>11}")
    per = []
    for n, r in zip(sizes, results, strict=True):
        per.append(r.cpu["client"] / n * 1000)
        mark = "ok" if per[-1] <= TARGET_CPU_PER_SERVER_S * 1000 else "OVER"
        print(
            f"{n:>8}{r.wall_s:>10.1f}{r.cpu['client']:>15.2f}{per[-1]:>11.2f}"
            f"{TARGET_CPU_PER_SERVER_S * 1000:>11.0f}  {mark}"
        )
    flat = max(per) / max(min(per), 1e-9)
    print(
        f"per-server CPU, largest / smallest size: {flat:.2f} (flat = about 1; the issue "
        f"measured 2.9 between 256 and 1,024 servers)"
    )
    return all(p <= TARGET_CPU_PER_SERVER_S * 1000 for p in per)


def main() -> int:
    args = parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    oks, results = [], []
    with tempfile.TemporaryDirectory(prefix="bench-discovery-") as tmp:
        for servers in args.sizes:
            ok, res = run_size(args, servers, Path(tmp))
            oks.append(ok)
            results.append(res)
    if len(args.sizes) > 1:
        oks.append(summary(args.sizes, results))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    return 0 if all(oks) else 1


if __name__ == "__main__":
    sys.exit(main())
