"""`cluster-console demo [--servers N] [--product A2|A3]`: the console on a simulated cluster.

Starts the simulated Ascend servers (by default the MindIE guide's 2 x 8 A2 cluster with one
lossy card pair) in a temporary folder, opens the console on them, and stops them when the
console exits. Nothing to install or configure: every server is an SSH server on its own
loopback address with its own host key, reached through the sim's ssh_config.

The simulated cluster runs in a background thread with its own event loop (``DemoCluster``),
not in a subprocess: it lives and dies with this process, so a crashed or killed console
never leaves simulated servers behind, and there is no second interpreter to start. The
fake ``hccn_tool`` / ``npu-smi`` already run as real processes, so the thread only carries
the SSH transport. The console reaches it exactly as it reaches real servers: over SSH.

Flows: ``run`` picks one from ``FLOWS``. The TUI is the default; the headless end-to-end
flow (``--headless``) is added as another function taking ``(args, cluster)`` and
registered in ``FLOWS`` with its flag in ``register``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Coroutine
from importlib import resources
from pathlib import Path
from typing import Any

from console.cli._demo_headless import run_headless
from console.cli.tui import add_launch_pane_options, launch_pane_options
from console.core.errors import InputError

ORDER = 90
SCENARIOS = ("lossy-launch", "stuck-server")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "demo",
        help="open the console on a simulated cluster (nothing to set up)",
        description="Start simulated Ascend servers on loopback (SSH + fake hccn_tool / npu-smi, "
        "the MindIE guide's 2 x 8 A2 cluster with one lossy card pair) in a temporary "
        "folder, open the console on them, and stop them on exit.",
    )
    p.add_argument("--servers", type=int, metavar="N", help="number of servers (default 2)")
    p.add_argument("--product", choices=["A2", "A3"], help="A2 (8 cards, default) or A3 (16 dies)")
    p.add_argument(
        "--headless",
        action="store_true",
        help="no TUI: run sim up -> discover -> ping -> rank table -> probe end to end, "
        "each step with its timing on stderr, a summary on stdout; exit 0 when "
        "every step behaved as expected (the planted lossy pair found)",
    )
    p.add_argument("--json", action="store_true", help="with --headless: the summary as JSON")
    p.add_argument(
        "--scenario",
        choices=SCENARIOS,
        help="with --headless: instead of the probe, a launch that fails on a planted "
        "fault, then its diagnosis (lossy-launch: across the lossy card pair; "
        "stuck-server: a hung NPU on server 2, caught as a stall)",
    )
    add_launch_pane_options(p)
    p.add_argument(
        "--dir",
        metavar="DIR",
        default=None,
        help="keep the simulated cluster's folder (keys, ssh_config, the saved rank "
        "table) in DIR instead of a temporary folder removed at exit",
    )
    p.set_defaults(func=run)


def demo_spec(servers: int | None = None, product: str | None = None, scenario: str | None = None) -> Any:
    """The default spec, resized: same lossy pair (server 1 dev 3 -> server 2 dev 3); the
    ``stuck-server`` scenario adds a hung NPU (every card of the last server)."""
    from console.sim.faults import StuckFault
    from console.sim.spec import ClusterSpec

    if scenario == "stuck-server":
        spec = demo_spec(servers, product)
        if len(spec.servers) < 2:
            raise InputError("--scenario stuck-server needs 2 servers or more")
        spec.faults.append(StuckFault(kind="stuck", server=len(spec.servers)))
        return spec

    if servers is None and product is None:
        return ClusterSpec.default()
    if servers is not None and not 1 <= servers <= 200:
        raise InputError(f"--servers {servers}: give 1 to 200 servers")
    text = resources.files("console.sim").joinpath("default.toml").read_text("utf-8")
    data = tomllib.loads(text)
    data["generate"].update(servers=servers or 2, product=product or "A2")
    if (servers or 2) < 2:
        data["faults"] = []  # the lossy pair needs a second server
    return ClusterSpec.from_dict(data, "demo")


class _SimSocketNoise(logging.Filter):
    """Drops asyncio's ``socket.send() raised exception.`` when the demo's simulated servers
    write the last output of a session to a client connection the console already closed.

    On a real cluster that happens on the servers and never reaches the operator's terminal;
    here the servers share the console's process, and asyncio's logger would print hundreds
    of those lines over the terminal after the app quits. Only that message, and only from
    the simulated servers' thread, is dropped: everything else still shows.
    """

    def __init__(self, thread_name: str) -> None:
        super().__init__()
        self.thread_name = thread_name

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.threadName == self.thread_name and record.getMessage().startswith("socket.send() raised exception")
        )


class DemoCluster:
    """A ``SimCluster`` in a temporary folder, served by a background thread's event loop.

    ``with DemoCluster(spec) as cluster:`` -> ``cluster.hosts``, ``cluster.ssh_options()``;
    on exit the servers are stopped (their sessions' processes killed), the thread joined
    and the folder removed.
    """

    def __init__(self, spec: Any, workdir: str | Path | None = None) -> None:
        self.spec = spec
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="cluster-console-demo-"))
        self.sim: Any = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="demo-sim", daemon=True)
        self._noise = _SimSocketNoise(self._thread.name)

    def __enter__(self) -> DemoCluster:
        from console.sim.cluster import SimCluster

        self.sim = SimCluster(self.spec, self.workdir, port=0)
        logging.getLogger("asyncio").addFilter(self._noise)
        self._thread.start()
        t0 = time.monotonic()
        try:
            self._call(self.sim.start(), START_TIMEOUT)
        except BaseException:
            self.close()
            raise
        self.start_s = time.monotonic() - t0  # shown by the headless flow
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def hosts(self) -> list[str]:
        """The servers' names (the sim's ssh_config maps each to its address and port)."""
        return [s.name for s in self.spec.servers]

    def ssh_options(self) -> Any:
        from console.remote import SSHOptions

        return SSHOptions(ssh_config=self.sim.ssh_config_path)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def close(self) -> None:
        """Stop the servers, the loop and the thread; remove the folder. Idempotent."""
        if self._thread.is_alive():
            try:
                self._call(self.sim.stop(), STOP_TIMEOUT)
            except Exception as exc:  # still stop the loop and clean up
                print(f"cluster-console demo: stopping the simulated cluster: {exc}", file=sys.stderr)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT)
        logging.getLogger("asyncio").removeFilter(self._noise)
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def demo_app(cluster: DemoCluster, plan_options: dict[str, Any] | None = None) -> Any:
    """The console, pointed at the simulated servers; ``plan_options``: more Launch pane
    ``build_launch_plan`` keywords (``launch_pane_options``)."""
    from console.cli._demo_headless import venv_setup
    from console.ui.app import ClusterConsoleApp
    from console.ui.sources import Sources

    options = cluster.ssh_options()
    sources = Sources.default(options)
    # The whole demo without typing: the rank table is saved in the demo's folder and the
    # Launch pane comes with the probe (gloo: no NPU here) ready.
    sources.launch.run_base = cluster.workdir / "runs"
    sources.launch.form = {"profile": "probe", "env": "BACKEND=gloo"}
    sources.launch.plan_options = {
        "remote_ranktable": str(cluster.workdir / "remote" / "ranktable.json"),
        **(plan_options or {}),
    }
    # the simulated servers, like real ones, give commands the system PATH only: the Launch
    # pane starts with the line that puts this python (the one with torch) first, visibly
    app = ClusterConsoleApp(
        hosts=cluster.hosts,
        ssh_options=options,
        sources=sources,
        ranktable_path=cluster.workdir / "ranktable.json",
        launch_setup=[venv_setup()],
    )
    app.sub_title = f"demo: {len(cluster.hosts)} simulated servers"
    return app


def run_tui(args: argparse.Namespace, cluster: DemoCluster) -> int:
    app = demo_app(cluster, launch_pane_options(args))
    return int(app.run() or 0)


FLOWS: dict[str, Callable[[argparse.Namespace, DemoCluster], int]] = {"tui": run_tui, "headless": run_headless}
"""Demo flows by name; ``run`` uses ``"headless"`` when ``--headless`` is given."""


def run(args: argparse.Namespace) -> int:
    flow = FLOWS["headless" if getattr(args, "headless", False) else "tui"]
    scenario = getattr(args, "scenario", None)
    if scenario and not getattr(args, "headless", False):
        raise InputError("--scenario needs --headless")
    spec = demo_spec(args.servers, args.product, scenario)
    print(f"cluster-console demo: starting {len(spec.servers)} simulated servers ...", file=sys.stderr)
    with DemoCluster(spec, args.dir) as cluster:
        return flow(args, cluster)
