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

    python3 bench/discovery.py                  # 64 x 8 = 512 devices
    python3 bench/discovery.py --servers 8      # quick run
    python3 bench/discovery.py --repeat 3       # best of 3 for each side
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.core.discovery.script import DEVICE_QUERIES  # noqa: E402

TARGET_RATIO = 0.5
SIM_READY_S = 180.0
BANNER = "simulated cluster running"


@dataclass
class Sim:
    proc: subprocess.Popen
    workdir: Path
    ssh_config: Path = Path()
    nodeset: str = ""
    hosts: list[str] = field(default_factory=list)


@dataclass
class Result:
    wall_s: float
    ips: dict[str, set[str]]  # host -> device IPs found

    @property
    def devices(self) -> int:
        return sum(len(v) for v in self.ips.values())


def start_sim(args: argparse.Namespace, workdir: Path) -> Sim:
    """Start ``cluster-console sim`` in its own process; wait for its banner (with a deadline)."""
    out, err = (workdir / "sim.out").open("w"), (workdir / "sim.err").open("w")
    cmd = [sys.executable, "-m", "console", "sim", "--servers", str(args.servers), "--cards",
           str(args.cards), "--dir", str(workdir / "sim"), "--port", str(args.port), "--json"]
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                            cwd=Path(__file__).resolve().parents[1], start_new_session=True)
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
    facts = json.loads((workdir / "sim.out").read_text())
    sim.ssh_config, sim.nodeset = Path(facts["ssh_config"]), facts["hosts"]
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


# ---- (i) the console ------------------------------------------------------------------------

async def console_discovery(sim: Sim, tool_timeout: float) -> Result:
    from console.ops.discovery import discover_inventory
    from console.remote import Pool, SSHOptions

    options = SSHOptions(ssh_config=sim.ssh_config, connect_timeout=60, command_timeout=300)
    start = time.monotonic()
    async with Pool(options) as pool:
        inv = await discover_inventory(pool, sim.hosts, tool_timeout=tool_timeout)
    wall = time.monotonic() - start
    bad = [f"{s.host}: {s.error}" for s in inv.servers if not s.reachable]
    if bad:
        raise SystemExit("console could not reach: " + "; ".join(bad[:5]))
    ips = {s.host: {d.device_ip for d in s.devices if d.device_ip and d.ip_source == "hccn_tool"}
           for s in inv.servers}
    return Result(wall, ips)


# ---- (ii) clush -----------------------------------------------------------------------------

def clush_command(cards: int) -> str:
    """What an operator types: the console's server script, then every device query in a loop."""
    queries = "; ".join(f"hccn_tool -i $i {' '.join(args)}" for _, args in DEVICE_QUERIES)
    devices = " ".join(str(i) for i in range(cards))
    r = "$CLUSTER_CONSOLE_ROOT"  # empty on a real server: the sim keeps each server's files here
    return ("hostname; npu-smi info -l; npu-smi info -m; npu-smi info; "
            f"cat {r}/etc/hccn.conf {r}/usr/local/Ascend/driver/version.info "
            f"{r}/usr/local/Ascend/ascend-toolkit/latest/*-linux/ascend_toolkit_install.info; "
            f"for i in {devices}; do {queries}; done")


def clush_argv(sim: Sim, cards: int) -> list[str]:
    clush = shutil.which("clush")
    if clush is None:
        raise SystemExit("clush not found: apt-get install clustershell (or pip install ClusterShell)")
    return [clush, "-n", "-w", sim.nodeset, "-o", f"-F {shlex.quote(str(sim.ssh_config))}",
            "-O", "color=never", clush_command(cards)]


def parse_clush(text: str) -> dict[str, set[str]]:
    """``host: ipaddr:10.x`` lines (clush's default labelled output) -> host -> IPs."""
    ips: dict[str, set[str]] = {}
    for m in re.finditer(r"^(\S+): ipaddr:(\S+)$", text, re.MULTILINE):
        ips.setdefault(m.group(1), set()).add(m.group(2))
    return ips


def run_clush(sim: Sim, cards: int) -> Result:
    argv = clush_argv(sim, cards)
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"clush failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return Result(wall, parse_clush(proc.stdout))


# ---- the run --------------------------------------------------------------------------------

async def measure(sim: Sim, args: argparse.Namespace) -> tuple[Result, Result]:
    """Alternate the two sides ``--repeat`` times; keep each side's best run."""
    consoles, clushes = [], []
    for _ in range(args.repeat):
        consoles.append(await console_discovery(sim, args.tool_timeout))
        clushes.append(await asyncio.to_thread(run_clush, sim, args.cards))
    return min(consoles, key=lambda r: r.wall_s), min(clushes, key=lambda r: r.wall_s)


def report(args: argparse.Namespace, console: Result, clush: Result, sim: Sim) -> bool:
    want = args.servers * args.cards
    ratio = console.wall_s / clush.wall_s
    same = console.ips == clush.ips
    print(f"discovery bench: {args.servers} servers x {args.cards} cards = {want} devices "
          f"(sim in its own process, best of {args.repeat})")
    print(f"{'':<28}{'console':>10}{'clush':>10}")
    print(f"{'wall time (s)':<28}{console.wall_s:>10.3f}{clush.wall_s:>10.3f}")
    print(f"{'devices found':<28}{console.devices:>10}{clush.devices:>10}")
    print(f"ratio console/clush: {ratio:.2f} (target <= {TARGET_RATIO}: "
          f"{'ok' if ratio <= TARGET_RATIO else 'MISSED'})")
    print(f"both found {want} devices: {console.devices == want and clush.devices == want}; "
          f"same device IPs per host: {same}")
    print(f"clush command: clush -w {sim.nodeset} -o '-F <ssh_config>' {shlex.quote(clush_command(args.cards))}",
          file=sys.stderr)
    return console.devices == want and clush.devices == want and same and ratio <= TARGET_RATIO


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=64, help="simulated servers (64)")
    parser.add_argument("--cards", type=int, default=8, help="cards per server (8)")
    parser.add_argument("--port", type=int, default=0, help="sim SSH port (0 = any free port)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side; best is kept (1)")
    parser.add_argument("--tool-timeout", type=float, default=30.0,
                        help="console's per-hccn_tool timeout; generous, the box is loaded (30)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-discovery-") as tmp:
        sim = start_sim(args, Path(tmp))
        try:
            console, clush = asyncio.run(measure(sim, args))
        finally:
            stop_sim(sim)
    return 0 if report(args, console, clush, sim) else 1


if __name__ == "__main__":
    sys.exit(main())
