"""The ping sweep with real ICMP: `cluster-console ping` against OpenSSH servers in network
namespaces, each NPU card a real interface carrying its device IP, loss injected by nftables.

Topology (every address in 10.99.0.0/16, every interface inside namespaces made here):

    <tag>-con  console      mgmt 10.99.0.1 ─┐
    <tag>-h1   sshd 10.99.0.11:2222 ────────┼─ br-m ┐
               card 0 10.99.1.10, card 1 10.99.1.11 ─ br-r ├ <tag>-sw (the switch)
    <tag>-h2   sshd 10.99.0.12:2222 ────────┘        │
               card 0 10.99.1.20, card 1 10.99.1.21 ─┘

Each card has its own policy-routing table, so a probe leaves through its card's interface.
`hccn_tool -i N -ping -g address IP` on a host runs the real `ping -I <card IP>` and prints
hccn_tool's format; every other hccn_tool / npu-smi call (discovery) is answered by the
simulator's fake tools from a state file. nftables in h2 drops 33 % of the echo requests
10.99.1.10 -> 10.99.1.20 and all of 10.99.1.11 -> 10.99.1.21.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.sim import state
from console.sim.spec import ClusterSpec
from tests.integration.conftest import SSHD, TEST_USER, SshdInstance, _ensure_user
from tests.system import need

pytestmark = pytest.mark.system
SUBNET = ipaddress.ip_network("10.99.0.0/16")
SSH_PORT = 2222
COUNT = 200  # packets per probe: 33 % loss is then 66 +- 6.7 packets (one sigma)
INTERVAL = "0.005"
HOSTS = {"h1": ("10.99.0.11", ["10.99.1.10", "10.99.1.11"]), "h2": ("10.99.0.12", ["10.99.1.20", "10.99.1.21"])}
NFT_TABLE = "cctest_ping"
NFT_RULES = f"""table inet {NFT_TABLE} {{
  chain input {{
    type filter hook input priority 0; policy accept;
    ip saddr 10.99.1.10 ip daddr 10.99.1.20 icmp type echo-request numgen random mod 100 < 33 drop
    ip saddr 10.99.1.11 ip daddr 10.99.1.21 icmp type echo-request drop
  }}
}}
"""

# hccn_tool on a namespace host: `-ping` is real ICMP from the card's address, the rest is
# the simulator's fake tool. Output in hccn_tool's words (reference/ascend.md 1.5).
HCCN_TOOL = r"""#!/usr/bin/python3 -IS
import os, re, subprocess, sys
sys.path.insert(0, @FAKE@)
import ccsim, hccn_tool
STATE = @STATE@

def ping(argv):
    dev, dst = argv[1], argv[argv.index("address") + 1]
    src = ccsim.load(STATE)["devices"][dev]["ip"]
    count = int(os.environ.get("CC_PING_COUNT", "3"))
    cmd = ["ping", "-n", "-c", str(count), "-i", os.environ.get("CC_PING_INTERVAL", "0.2"),
           "-W", "1", "-I", src, dst]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    got = {}
    for m in re.finditer(r"icmp_seq=(\d+) ttl=\d+ time=([\d.]+) ms", out):
        got.setdefault(int(m.group(1)) - 1, float(m.group(2)))
    sent = re.search(r"(\d+) packets transmitted", out)
    sent = int(sent.group(1)) if sent else count
    lines = [f"device {dev} PING {dst}"]
    lines += [f"recv seq={s},time={got[s]:.6f}ms" if s in got else f"recv time out seq={s}"
              for s in range(sent)]
    lost = sent - len(got)
    lines.append(f"{sent} packets transmitted, {len(got)} received, "
                 f"{lost * 100 / max(sent, 1):.2f}% packet loss")
    print("\n".join(lines))
    return 0 if lost == 0 else 1

argv = sys.argv[1:]
sys.exit(ping(argv) if "-ping" in argv else hccn_tool.main(argv, STATE))
"""
NPU_SMI = """#!/usr/bin/python3 -IS
import sys
sys.path.insert(0, @FAKE@)
import npu_smi
sys.exit(npu_smi.main(sys.argv[1:], @STATE@))
"""


def _have(tool: str) -> bool:
    return shutil.which(tool) is not None


def ip(*args: str, netns: str | None = None, stdin: str | None = None) -> str:
    cmd = ["ip", "netns", "exec", netns, *args] if netns else list(args)
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=20)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
    return proc.stdout


def check_subnet_free() -> None:
    """Refuse to start when 10.99.0.0/16 overlaps a route of this machine."""
    routes = json.loads(ip("ip", "-j", "-4", "route", "show", "table", "all") or "[]")
    for r in routes:
        dst = r.get("dst", "default")
        if dst == "default":
            continue
        net = ipaddress.ip_network(dst, strict=False)
        if net.overlaps(SUBNET) and net.prefixlen > 0:
            need(False, f"{SUBNET} overlaps the existing route {dst}: refusing to create test namespaces")


@dataclass
class NetnsSshd(SshdInstance):
    """An sshd started inside a network namespace (readiness read from its log)."""

    netns: str = ""

    def start(self) -> None:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as log:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, SSHD, "-D", "-e", "-f", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 10
        while f"Server listening on {self.host} port {self.port}" not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd in {self.netns} did not start:\n{self.log()}")
            time.sleep(0.02)  # polling the log with a deadline


class Bed:
    """The namespaces, bridges, sshds and fake tools; ``close`` removes every trace."""

    def __init__(self, base: Path, client) -> None:
        self.tag = "cc" + secrets.token_hex(3)
        self.base, self.client = base, client
        self.names: list[str] = []
        self.sshds: list[NetnsSshd] = []

    def ns(self, name: str) -> str:
        return f"{self.tag}-{name}"

    def add_ns(self, name: str) -> str:
        ns = self.ns(name)
        ip("ip", "netns", "add", ns)
        self.names.append(ns)
        ip("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def wire(self, ns: str, ifname: str, bridge: str, address: str) -> None:
        sw, port = self.ns("sw"), f"p{len(self.names)}{ifname}"[:15]
        ip("ip", "link", "add", ifname, "netns", ns, "type", "veth", "peer", "name", port, "netns", sw)
        ip("ip", "-n", sw, "link", "set", port, "master", bridge, "up")
        ip("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", ifname)
        ip("ip", "-n", ns, "link", "set", ifname, "up")

    def build(self) -> None:
        sw = self.add_ns("sw")
        for br in ("br-m", "br-r"):
            ip("ip", "-n", sw, "link", "add", br, "type", "bridge")
            ip("ip", "-n", sw, "link", "set", br, "up")
        self.wire(self.add_ns("con"), "mgmt", "br-m", "10.99.0.1")
        roots = self.tool_roots()
        for name, (mgmt, cards) in HOSTS.items():
            ns = self.add_ns(name)
            self.wire(ns, "mgmt", "br-m", mgmt)
            for k, addr in enumerate(cards):
                self.wire(ns, f"card{k}", "br-r", addr)
                ip("ip", "-n", ns, "rule", "add", "from", addr, "table", str(100 + k))
                ip(
                    "ip",
                    "-n",
                    ns,
                    "route",
                    "add",
                    "10.99.1.0/24",
                    "dev",
                    f"card{k}",
                    "src",
                    addr,
                    "table",
                    str(100 + k),
                )
            for key, value in (("arp_ignore", "1"), ("arp_announce", "2")):
                ip("sysctl", "-qw", f"net.ipv4.conf.all.{key}={value}", netns=ns)
            self.start_sshd(name, ns, mgmt, roots[name])
        ip("nft", "-f", "-", netns=self.ns("h2"), stdin=NFT_RULES)

    def tool_roots(self) -> dict[str, Path]:
        """The simulator's server roots (state, hccn.conf, versions) with our device IPs."""
        spec = ClusterSpec.generate(servers=len(HOSTS), cards=2).model_dump()
        for srv, (name, (_mgmt, cards)) in zip(spec["servers"], HOSTS.items(), strict=True):
            srv["name"] = name
            for dev, addr in zip(srv["devices"], cards, strict=True):
                dev["ip"] = addr
        spec = ClusterSpec.model_validate(spec)
        fake = self.base / "fake"
        shutil.copytree(state.fake_dir(), fake, ignore=shutil.ignore_patterns("__pycache__"))
        roots = state.write_cluster(spec, self.base / "sim")
        for path in [self.base, *self.base.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o755 if path.is_dir() else path.stat().st_mode | 0o644)
        return {name: roots[name] for name in HOSTS}

    def start_sshd(self, name: str, ns: str, mgmt: str, root: Path) -> None:
        env = {"CLUSTER_CONSOLE_ROOT": str(root), "CC_PING_COUNT": str(COUNT), "CC_PING_INTERVAL": INTERVAL}
        inst = NetnsSshd(
            host=mgmt,
            port=SSH_PORT,
            dir=self.base / f"sshd-{name}",
            user=TEST_USER,
            authorized_keys=[self.client.pubkey],
            set_env=env,
            path_prefix=[str(root / state.BIN_DIR)],
            netns=ns,
        )
        inst.prepare()
        fake, state_path = repr(str(self.base / "fake")), repr(str(root / state.STATE))
        for tool, text in (("hccn_tool", HCCN_TOOL), ("npu-smi", NPU_SMI)):
            (inst.bin_dir / tool).write_text(text.replace("@FAKE@", fake).replace("@STATE@", state_path))
            (inst.bin_dir / tool).chmod(0o755)
        self.sshds.append(inst)
        inst.start()
        self.client.trust(inst)

    def close(self) -> None:
        for inst in self.sshds:
            with contextlib.suppress(Exception):
                inst.stop()
        with contextlib.suppress(Exception):
            ip("nft", "delete", "table", "inet", NFT_TABLE, netns=self.ns("h2"))
        for ns in reversed(self.names):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


@pytest.fixture
def netns_bed(ssh_client):
    need(os.geteuid() == 0, "network namespaces need root")
    for tool in ("ip", "nft", "ping"):
        need(_have(tool), f"`{tool}` is needed (iproute2, nftables, iputils-ping)")
    need(os.path.exists(SSHD), f"OpenSSH server ({SSHD}) is needed")
    _ensure_user(TEST_USER)
    check_subnet_free()
    base = Path(tempfile.mkdtemp(prefix="cc-netns-", dir="/tmp"))
    bed = Bed(base, ssh_client)
    try:
        bed.build()
        yield bed
    finally:
        bed.close()
        shutil.rmtree(base, ignore_errors=True)
        assert not [n for n in ip("ip", "netns", "list").split() if n.startswith(bed.tag)]


def test_real_icmp_loss_matches_what_nftables_injects(netns_bed: Bed) -> None:
    kit = netns_bed.client
    hosts = ",".join(f"{mgmt}:{SSH_PORT}" for mgmt, _ in HOSTS.values())
    cmd = [
        sys.executable,
        "-m",
        "console",
        "-F",
        str(kit.ssh_config),
        "-l",
        TEST_USER,
        "-i",
        str(kit.key),
        "--known-hosts",
        str(kit.known_hosts),
        "ping",
        hosts,
        "--json",
        "--probe-timeout",
        "20",
    ]
    proc = subprocess.run(
        ["ip", "netns", "exec", netns_bed.ns("con"), *cmd],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["unreachable"] == [] and doc["summary"]["probes"] == 8
    pairs = {(p["src_ip"], p["dst_ip"]): p for p in doc["pairs"]}
    lossy, blocked = pairs.pop(("10.99.1.10", "10.99.1.20")), pairs.pop(("10.99.1.11", "10.99.1.21"))
    assert blocked["status"] == "unreachable" and blocked["loss_pct"] == 100
    assert blocked["transmitted"] == COUNT and blocked["received"] == 0
    # binomial(200, 0.33): mean 66 lost, sigma 6.65; +-5 sigma keeps a false alarm below 1e-6
    assert lossy["status"] == "loss" and lossy["transmitted"] == COUNT
    assert 33 - 5 * 3.33 <= lossy["loss_pct"] <= 33 + 5 * 3.33, lossy["raw"][-200:]
    assert len(pairs) == 6
    for p in pairs.values():
        assert (p["status"], p["loss_pct"], p["received"]) == ("ok", 0, COUNT), p["raw"][-300:]
    assert lossy["command"].endswith("hccn_tool -i 0 -ping -g address 10.99.1.20")
    assert lossy["raw"].startswith("device 0 PING 10.99.1.20\n")
