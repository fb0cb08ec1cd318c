"""Discovery against real OpenSSH sshd: one daemon per simulated server, serving its fake tools.

Each server of a generated spec gets its root folder (``console.sim.state.write_cluster``)
and its own ``sshd`` on its spec address; the daemon hands every session the server's tool
environment (``tool_env``: CLUSTER_CONSOLE_ROOT, CCSIM_STATE, HOME, HOSTNAME through SetEnv,
and the fake ``npu-smi`` / ``hccn_tool`` first on PATH). The fake tools are stdlib Python
scripts; the sim writes them for the console's own interpreter, which the unprivileged test
user may not be able to run (pyenv under /root), so they are rewritten here for a python3
that user can run, importing a world-readable copy of ``console/sim/fake``.
A ``refuse`` fault is a server whose address has no daemon at all.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.core.hosts import fold
from console.ops.discovery import discover_inventory
from console.remote import Pool
from console.sim import state
from console.sim.spec import ClusterSpec, ServerSpec
from tests.integration.conftest import BASE_PATH, TEST_USER, _free_port
from tests.system import need

pytestmark = [pytest.mark.system, pytest.mark.timeout(120)]

FAULTS = [
    {"kind": "link_down", "server": 1, "device": 2},
    {"kind": "tls", "server": 2, "enabled": 1},
    {"kind": "conf_mismatch", "server": 1, "device": 4, "address": "10.10.100.99"},
    {"kind": "net_health", "server": 2, "device": 5, "status": "Receive timeout"},
    {"kind": "busy", "server": 1, "calls": 3},
    {"kind": "hang", "server": 2, "device": 6, "command": "-gateway"},
    {"kind": "refuse", "server": 3},
]
BASE_ADDRESS = "127.0.0.41"
TOOL_TIMEOUT = "3"  # s per hccn_tool call: the hang fault costs this; a loaded CI box needs slack


def user_python(user: str) -> str | None:
    """A python3 the test user can start with the imports the fake tools need."""
    seen = []
    for cand in ("/usr/bin/python3", "/usr/local/bin/python3", shutil.which("python3", path=BASE_PATH), sys.executable):
        if not cand or cand in seen or not os.path.exists(cand):
            continue
        seen.append(cand)
        probe = subprocess.run(
            [cand, "-IS", "-c", "import _json, fcntl, time"], user=user, capture_output=True, timeout=30
        )
        if probe.returncode == 0:
            return cand
    return None


def _write_tool(path: Path, module: str, python: str, fake: Path, state_path: Path) -> None:
    # The same launcher as console.sim.state, for an interpreter and a copy the user can read.
    path.write_text(
        f"#!{python} -IS\nimport sys\nsys.path.insert(0, {str(fake)!r})\n"
        f"import {module}\nsys.exit({module}.main(sys.argv[1:], {str(state_path)!r}))\n"
    )
    path.chmod(0o755)


def write_roots(spec: ClusterSpec, base: Path, python: str) -> dict[str, Path]:
    """The sim's server roots under ``base``, runnable and (busy counter) writable by the user."""
    fake = base / "fake"
    shutil.copytree(state.fake_dir(), fake, ignore=shutil.ignore_patterns("__pycache__"))
    roots = state.write_cluster(spec, base)
    uid = pwd.getpwnam(TEST_USER).pw_uid
    for root in roots.values():
        state_path = root / state.STATE
        _write_tool(root / state.HCCN_TOOL, "hccn_tool", python, fake, state_path)
        _write_tool(root / state.BIN_DIR / "npu-smi", "npu_smi", python, fake, state_path)
        for path in (state_path.parent, root / state.BUSY_COUNTER):
            os.chown(path, uid, -1)
    return roots


@dataclass
class SshdCluster:
    spec: ClusterSpec
    hosts: list[str]
    ssh_config: Path
    roots: dict[str, Path]


def _ssh_config_block(host: str, port: int, kit) -> str:
    return (
        f"Host {host}\n    HostName {host}\n    Port {port}\n    User {TEST_USER}\n"
        f"    IdentityFile {kit.key}\n    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {kit.known_hosts}\n    StrictHostKeyChecking yes\n\n"
    )


def _start_server(sshd_factory, srv: ServerSpec, root: Path):
    env = state.tool_env(root, srv)
    prefix = [p for p in env.pop("PATH").split(os.pathsep) if p.startswith(str(root))]
    assert prefix, "tool_env puts the fake tools on PATH"
    return sshd_factory(srv.address, set_env=env, path_prefix=prefix)


@pytest.fixture
def shared_dir(ssh_test_user) -> Iterator[Path]:
    """A folder under /tmp the test user can read (pytest's tmp_path is root-only)."""
    base = Path(tempfile.mkdtemp(prefix="cc-disc-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def sshd_cluster(sshd_factory, ssh_client, ssh_test_user, shared_dir) -> SshdCluster:
    python = user_python(ssh_test_user)
    need(python is not None, f"a python3 that user {ssh_test_user} can run (for the fake tools)")
    spec = ClusterSpec.generate(servers=3, cards=8, base_address=BASE_ADDRESS, faults=FAULTS)
    roots = write_roots(spec, shared_dir, python)
    refused = [spec.server(f.server).address for f in spec.dynamic_faults("refuse")]
    blocks = []
    for srv in spec.servers:
        if srv.address in refused:
            port = _free_port(srv.address)  # nothing listens there: connection refused
        else:
            port = _start_server(sshd_factory, srv, roots[srv.name]).port
        blocks.append(_ssh_config_block(srv.address, port, ssh_client))
    ssh_client.ssh_config.write_text("".join(blocks))
    return SshdCluster(spec, [s.address for s in spec.servers], ssh_client.ssh_config, roots)


def check_devices(servers: list[dict], spec: ClusterSpec) -> int:
    """Every reachable server's device IPs are the spec's; returns the device count."""
    by_addr = {s.address: s for s in spec.servers}
    total = 0
    for server in servers:
        if not server["reachable"]:
            continue
        assert server["server_id"] == server["host"]
        assert server["hostname"] == by_addr[server["host"]].name
        want = {d.device_id: d.ip for d in by_addr[server["host"]].devices}
        got = {d["device_id"]: d["device_ip"] for d in server["devices"]}
        assert got == want, server["host"]
        total += len(got)
    return total


async def test_discovery_over_real_sshd_gives_spec_ips_and_faults(sshd_cluster, ssh_client):
    h1, h2, h3 = sshd_cluster.hosts
    async with Pool(ssh_client.options(ssh_config=sshd_cluster.ssh_config, user=None, known_hosts=None)) as pool:
        inv = await discover_inventory(pool, sshd_cluster.hosts, tool_timeout=float(TOOL_TIMEOUT))
    assert [s.host for s in inv.servers] == sshd_cluster.hosts
    assert [s.reachable for s in inv.servers] == [True, True, False]
    assert check_devices([s.model_dump() for s in inv.servers], sshd_cluster.spec) == 16
    by = {(f.code, f.where.host, f.where.device): f for f in inv.findings}
    assert by[("unreachable", h3, None)].severity == "error"
    assert h3 in inv.server(h3).error
    assert by[("link_down", h1, 2)].severity == "error"
    assert inv.server(h1).device(2).link == "DOWN"
    assert by[("tls_mismatch", h2, None)].severity == "error"
    assert "0 on " + h1 in by[("tls_mismatch", h2, None)].message
    assert "10.10.100.99" in by[("hccn_conf_mismatch", h1, 4)].message
    assert by[("net_health", h2, 5)].message == "net_health Receive timeout"
    failed = [f.message for f in inv.findings if (f.code, f.where.host, f.where.device) == ("command_failed", h2, 6)]
    assert "hccn_tool -i 6 -gateway -g: timed out (hccn_tool can hang on a sick card)" in failed
    # "busy" was retried by the script: every card of server 1 answered hccn_tool
    assert all(d.ip_source == "hccn_tool" for d in inv.server(h1).devices), inv.server(h1).devices
    busy_count = sshd_cluster.roots[sshd_cluster.spec.server(h1).name] / state.BUSY_COUNTER
    assert busy_count.read_text().strip() == "3"  # the fault did fire, over sshd, as ccssh


async def test_cli_discover_json_over_real_sshd(sshd_cluster):
    h1, h2, h3 = sshd_cluster.hosts
    assert fold(sshd_cluster.hosts) == "127.0.0.[41-43]"  # the CLI expands the NodeSet
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console",
        "-F",
        str(sshd_cluster.ssh_config),
        "--connect-timeout",
        "5",
        "discover",
        fold(sshd_cluster.hosts),
        "--json",
        "--tool-timeout",
        TOOL_TIMEOUT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 3, err.decode()  # a server could not be reached
    data = json.loads(out)
    assert [s["host"] for s in data["servers"]] == sshd_cluster.hosts
    assert check_devices(data["servers"], sshd_cluster.spec) == 16
    codes = {(f["code"], f["host"], f["device_id"]) for f in data["findings"]}
    assert {("unreachable", h3, None), ("link_down", h1, 2), ("tls_mismatch", h2, None)} <= codes
    assert "[3/3]" in err.decode() and "[3/3]" not in out.decode()
