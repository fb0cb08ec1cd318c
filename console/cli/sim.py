"""`cluster-console sim`: run a simulated Ascend cluster on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import signal
import sys
from pathlib import Path

from ClusterShell.NodeSet import NodeSet
from pydantic import ValidationError

from console.cli._common import print_json
from console.core.errors import InputError, describe_validation_error
from console.ops import safefiles
from console.sim.cluster import SimCluster
from console.sim.cpugroup import SessionGroup
from console.sim.spec import ClusterSpec

ORDER = 80
DEFAULT_DIR = "sim-cluster"


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "sim",
        help="run simulated Ascend servers on loopback (SSH + fake hccn_tool/npu-smi)",
        description="Start simulated Ascend servers, each an SSH server on its own loopback "
        "address with its own host key, answering hccn_tool and npu-smi in the real formats. "
        "Without --spec or --servers: the MindIE guide's 2 x 8 A2 cluster with one lossy "
        "card pair. Runs until Ctrl-C.",
    )
    p.add_argument("--spec", metavar="FILE.toml", help="cluster spec (TOML)")
    p.add_argument(
        "--servers",
        type=int,
        metavar="N",
        help="generate N servers (2 when only --cards/--product/--base-address is given)",
    )
    p.add_argument("--cards", type=int, metavar="N", help="cards per server (8)")
    p.add_argument("--product", choices=["A2", "A3"], help="A2 (default) or A3")
    p.add_argument("--base-address", metavar="IP", help="first server's loopback address (127.0.0.11)")
    p.add_argument(
        "--dir",
        default=DEFAULT_DIR,
        metavar="DIR",
        help=f"folder for keys, ssh_config and server roots (./{DEFAULT_DIR})",
    )
    p.add_argument(
        "--port",
        dest="sim_port",
        type=int,
        metavar="P",
        help="SSH port of every server (spec's, default 2222; 0 = any free port)",
    )
    p.add_argument(
        "--session-nice",
        type=int,
        default=0,
        choices=range(0, 20),
        metavar="N",
        help="run every SSH session (and so every process started on the simulated servers) at "
        "niceness N (0, as sshd does): with many servers on one machine their processes then "
        "cannot starve a console running there, as they cannot on a real cluster where each "
        "server has its own CPUs. As root, the sim's SSH server and every session also go into "
        "one CPU control group weighing as one process at niceness N (the two 1:1 within it): "
        "with Linux autogroup every new session would otherwise weigh as much as the console",
    )
    p.add_argument(
        "--separate-pids",
        action="store_true",
        help="give every simulated server its own process table (a PID namespace; root, "
        "util-linux): as on separate machines, what runs on one server sees only that "
        "server's processes (a host agent's sweep for leftovers then costs what it costs on "
        "a real server, not a look at every process of every simulated server)",
    )
    p.add_argument("--json", action="store_true", help="print the connection facts as JSON")
    p.set_defaults(func=run)


_GENERATE = ("servers", "cards", "product", "base_address")


def load_spec(args: argparse.Namespace) -> ClusterSpec:
    """--spec FILE, else a generated cluster when any generator flag is given, else the
    MindIE guide's cluster."""
    given = {k: getattr(args, k) for k in _GENERATE if getattr(args, k) is not None}
    if args.spec and given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise InputError(f"give either --spec or {flags}, not both")
    if args.spec:
        return ClusterSpec.load(args.spec)
    if not given:
        return ClusterSpec.default()
    try:
        return ClusterSpec.generate(**given)
    except ValidationError as exc:
        raise InputError("cannot generate the cluster", describe_validation_error(exc)) from None
    except ValueError as exc:
        raise InputError("cannot generate the cluster", str(exc).splitlines()[0]) from None


def describe(sim: SimCluster) -> dict[str, object]:
    hosts = str(NodeSet.fromlist(sim.hosts))
    cfg = shlex.quote(str(sim.ssh_config_path))
    return {
        "name": sim.spec.name,
        "ssh_config": str(sim.ssh_config_path),
        "hosts": hosts,
        "port": sim.port,
        "workdir": str(sim.workdir),
        "cpu_group": str(sim.cpu_group.path) if sim.cpu_group else None,
        "examples": [
            f"ssh -F {cfg} {sim.hosts[0]} hccn_tool -i 0 -ip -g",
            f"cluster-console -F {cfg} discover {shlex.quote(hosts)}",
        ],
    }


def session_note(sim: SimCluster) -> str:
    """How the sessions' priority is lowered (``--session-nice``), for stderr."""
    nice = sim.session_nice
    if sim.cpu_group is not None:
        return (
            f"sessions: niceness {nice}; this SSH server and every session in CPU group {sim.cpu_group.path}, "
            f"weighing together as one process at niceness {nice} (the two 1:1 within it)"
        )
    return (
        f"sessions: niceness {nice} and their autogroup's; no CPU group ({SessionGroup.why_not}): "
        "with autogroup every new session (setsid) weighs as much as the console"
    )


async def run(args: argparse.Namespace) -> int:
    spec = load_spec(args)
    port = args.sim_port if args.sim_port is not None else getattr(args, "port", None)
    # the sim writes keys, ssh_config and tool scripts there: a folder nobody else can change
    folder = safefiles.trusted_folder(Path(args.dir))
    async with SimCluster(
        spec, folder, port=port, session_nice=args.session_nice, separate_pids=args.separate_pids
    ) as sim:
        if sim.cpu_group is not None:
            sim.cpu_group.join_server()  # this process is the simulated servers' sshd
        facts = describe(sim)
        if args.json:
            print_json(facts)
        else:
            print(f"ssh_config: {facts['ssh_config']}")
            print(f"hosts:      {facts['hosts']}  (port {facts['port']})")
            examples = facts["examples"]
            assert isinstance(examples, list)
            for line in examples:
                print(f"try:        {line}")
        sys.stdout.flush()
        if args.session_nice:
            print(session_note(sim), file=sys.stderr)
        print("simulated cluster running; Ctrl-C to stop", file=sys.stderr)
        await _until_stopped()
    return 0


async def _until_stopped() -> None:
    """Wait for Ctrl-C (KeyboardInterrupt cancels us) or SIGTERM (a clean stop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
