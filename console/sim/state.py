"""Each simulated server's root folder, and the small JSON state its fake tools read.

``$ROOT/etc/hccn.conf``, ``$ROOT/usr/local/Ascend/driver/version.info``, the CANN toolkit's
install.info, ``$ROOT/usr/local/Ascend/driver/tools/hccn_tool``, ``$ROOT/usr/local/bin/npu-smi``
and ``$ROOT/var/ccsim/state.json``. The tools are stdlib-only scripts (``console/sim/fake``)
started as ``python -I -S``: they never import pydantic, only this server's state JSON,
which already holds the answers (peer IPs, lost probes, busy and hang faults).

Fast path: ``hccn_tool`` and ``npu-smi`` themselves are POSIX sh launchers. The answers of
static queries (``hccn_tool -i N -ip -g``, ``npu-smi info -l``, ...) are pre-rendered by the
Python tools into ``$ROOT/var/ccsim/answers`` when the root is written (``fake/answers.py``);
the launcher ``cat``s the answer when one exists for exactly its arguments and ``exec``s the
Python tool (``$ROOT/var/ccsim/<tool>.py``) otherwise: pings, faults the tool plays (busy,
hang), anything unknown. Every path is built in, so the tools work with an empty environment.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from console.sim import serve_install
from console.sim.spec import ClusterSpec, ServerSpec

HCCN_TOOL = "usr/local/Ascend/driver/tools/hccn_tool"
BIN_DIR = "usr/local/bin"
STATE = "var/ccsim/state.json"
BUSY_COUNTER = "var/ccsim/busy.count"
ANSWERS = "var/ccsim/answers"
PY_TOOLS = "var/ccsim"  # the Python tools' launchers: <module>.py
HOME = "home"
# Cluster-wide, under the sim's folder (not per server: 8,192 device IPs at 1,024 servers):
CLUSTER = "cluster/peers.json"  # every device address -> [server, device, card, link]; TLS
PEERS = "cluster/peers"  # peers/up/<ip>, peers/down/<ip>: the ping launcher's lookup


def fake_dir() -> Path:
    return Path(str(resources.files("console.sim").joinpath("fake")))


def server_root(workdir: Path, server: ServerSpec) -> Path:
    return workdir / "servers" / server.name


def tool_env(root: Path, server: ServerSpec) -> dict[str, str]:
    """What a session's environment gets on top of a real sshd's (``server.login_env``): the
    server's root folder, its tools' folders first on the system PATH, its home and name."""
    path = os.pathsep.join([str(root / BIN_DIR), str((root / HCCN_TOOL).parent), "/usr/local/bin:/usr/bin:/bin"])
    return {
        "CLUSTER_CONSOLE_ROOT": str(root),
        "CCSIM_STATE": str(root / STATE),
        "PATH": path,
        "HOME": str(root / HOME),
        "HOSTNAME": server.name,
    }


def write_cluster(spec: ClusterSpec, workdir: Path) -> dict[str, Path]:
    """Write every server's root folder; returns server name -> root."""
    peers = _peers(spec)
    shared = write_peers(spec, workdir, peers)
    roots = {}
    for srv in spec.servers:
        root = server_root(workdir, srv)
        write_server(spec, srv, root, shared)
        roots[srv.name] = root
    render_answers(list(roots.values()))
    return roots


def write_peers(spec: ClusterSpec, workdir: Path, peers: dict[str, list[Any]]) -> Path:
    """The cluster-wide peer table, once: the JSON the Python tools read when they need it,
    and one empty file per address under ``peers/up`` or ``peers/down`` (by its link), which
    the sh ``hccn_tool`` tests to answer a ping without Python. Returns the JSON's path."""
    folder = workdir / PEERS
    shutil.rmtree(folder, ignore_errors=True)  # never answer for a previous spec's peers
    for sub in ("up", "down"):
        (folder / sub).mkdir(parents=True)
    for ip, (_srv, _dev, _card, link) in peers.items():
        if "/" in ip or ip.strip(".") == "":
            continue  # not a file name: the Python tool answers for it
        (folder / ("up" if link == "UP" else "down") / ip).touch()
    path = workdir / CLUSTER
    tls = {d.ip: d.tls for s in spec.servers for d in s.devices if d.ip}
    _write(path, json.dumps({"peers": peers, "peer_tls": tls}))
    return path


def write_server(spec: ClusterSpec, srv: ServerSpec, root: Path, shared: Path) -> None:
    for sub in (
        "etc",
        "usr/local/Ascend/driver/tools",
        BIN_DIR,
        "var/ccsim",
        HOME,
        "dev",
        "usr/local/Ascend/ascend-toolkit/latest/aarch64-linux",
    ):
        (root / sub).mkdir(parents=True, exist_ok=True)
    _write(root / "etc/hccn.conf", hccn_conf(srv))
    _write(root / "etc/ascend_install.info", "Driver_Install_Type=full\nDriver_Install_Path_Param=/usr/local/Ascend\n")
    _write(root / "usr/local/Ascend/driver/version.info", f"Version={srv.driver_version}\n")
    _write(
        root / "usr/local/Ascend/ascend-toolkit/latest/aarch64-linux/ascend_toolkit_install.info",
        f"package_name=Ascend-cann-toolkit\nversion={srv.cann_version}\narch=aarch64\n"
        f"os=linux\npath=/usr/local/Ascend/ascend-toolkit/{srv.cann_version}/aarch64-linux\n",
    )
    for dev in srv.devices:
        _write(root / f"dev/davinci{dev.device_id}", "")
    state_path = root / STATE
    _write(state_path, json.dumps(server_state(spec, srv, root, shared)))
    _write(root / BUSY_COUNTER, "0")
    peers_dir = shared.parent / "peers"
    for module, path in (("hccn_tool", root / HCCN_TOOL), ("npu_smi", root / BIN_DIR / "npu-smi")):
        python_tool = root / PY_TOOLS / f"{module}.py"
        _write_tool(python_tool, module, state_path)
        _write(
            path,
            launcher(path.name, root / ANSWERS / path.name, python_tool, peers=peers_dir, probe_s=spec.ping_probe_s),
            0o755,
        )
    _write_hostname(root / BIN_DIR / "hostname", srv.name)
    _write_ip(root / BIN_DIR / "ip", srv.address, srv.host_nic)
    _write_tool(root / BIN_DIR / "ccsim-hccl-init", "hccl_init", state_path)
    serve_install.write_serving(srv, root, _write, _write_tool, state_path)


def hccn_conf(srv: ServerSpec) -> str:
    lines = []
    for dev in sorted(srv.devices, key=lambda d: d.device_id):
        address = dev.conf_address or dev.ip
        if dev.conf_omit or address is None:
            continue
        n = dev.device_id
        lines += [f"address_{n}={address}", f"netmask_{n}={dev.netmask}"]
        if dev.netdetect:
            lines.append(f"netdetect_{n}={dev.netdetect}")
        if dev.gateway:
            lines.append(f"gateway_{n}={dev.gateway}")
        lines += [f"send_arp_status_{n}=1", f"tls_enable_{n}={dev.tls}"]
    return "".join(line + "\n" for line in lines)


def _peers(spec: ClusterSpec) -> dict[str, list[Any]]:
    """Every device address in the cluster -> [server, device_id, card_id, link]."""
    peers: dict[str, list[Any]] = {}
    for srv in spec.servers:
        for dev in srv.devices:
            for ip in (dev.ip, dev.ipv6):
                if ip:
                    peers[ip] = [srv.name, dev.device_id, dev.card_id, dev.link]
            if dev.vnic_ip:
                peers[dev.vnic_ip] = [srv.name, dev.device_id, dev.card_id, dev.vnic_link]
    return peers


def _losses(spec: ClusterSpec, srv: ServerSpec) -> dict[str, dict[str, Any]]:
    """``"src_device/dst_ip"`` -> lost seqs, reply times and typo flag, for pings from srv."""
    losses: dict[str, dict[str, Any]] = {}
    for fault in spec.dynamic_faults("loss"):
        src, dst = spec.server(fault.src), spec.server(fault.dst)
        pairs = [(src, fault.src_device, dst, fault.dst_device)]
        if fault.symmetric:
            pairs.append((dst, fault.dst_device, src, fault.src_device))
        rule = {"lost": fault.lost_seqs, "times": fault.times_ms, "typo": fault.guide_typo}
        for a, a_dev, b, b_dev in pairs:
            if a.name != srv.name:
                continue
            a_devs = [d.device_id for d in a.devices] if a_dev is None else [a_dev]
            b_devs = b.devices if b_dev is None else [b.device(b_dev)]
            for sd in a_devs:
                for dd in b_devs:
                    for ip in (dd.ip, dd.ipv6, dd.vnic_ip):
                        if ip:
                            losses[f"{sd}/{ip}"] = rule
    return losses


def _bad_links(spec: ClusterSpec, srv: ServerSpec) -> list[list[Any]]:
    """``[device, peer IP]`` of srv's devices on a lossy pair, whichever way the loss was
    planted: HCCL's link needs both directions (fake/hccl_init.py)."""
    bad: list[list[Any]] = []
    for fault in spec.dynamic_faults("loss"):
        if not fault.lost_seqs:
            continue
        src, dst = spec.server(fault.src), spec.server(fault.dst)
        for a, a_dev, b, b_dev in (
            (src, fault.src_device, dst, fault.dst_device),
            (dst, fault.dst_device, src, fault.src_device),
        ):
            if a.name != srv.name:
                continue
            a_devs = [d.device_id for d in a.devices] if a_dev is None else [a_dev]
            b_devs = b.devices if b_dev is None else [b.device(b_dev)]
            bad += [[sd, dd.ip] for sd in a_devs for dd in b_devs if dd.ip]
    return bad


def server_state(spec: ClusterSpec, srv: ServerSpec, root: Path, shared: Path) -> dict[str, Any]:
    busy = sum(f.calls for f in spec.dynamic_faults("busy") if spec.server(f.server) is srv)
    hangs = [[f.device, f.command] for f in spec.dynamic_faults("hang") if spec.server(f.server) is srv]
    return {
        "server": srv.name,
        "address": srv.address,
        "product": srv.product,
        "driver": srv.driver_version,
        "npu_name": srv.npu_name,
        "super_pod_id": srv.super_pod_id,
        "devices": {str(d.device_id): d.model_dump(mode="json") for d in srv.devices},
        "cluster": str(shared),
        "loss": _losses(spec, srv),
        "ping": {
            "probe_s": spec.ping_probe_s,
            "times_ms": spec.ping_times_ms,
            "hccs_us": spec.hccs_times_us,
            "ok_typo": spec.ok_ping_typo,
        },
        "busy": busy,
        "busy_file": str(root / BUSY_COUNTER),
        "hang": hangs,
        "bad_links": _bad_links(spec, srv),
        "serve": serve_install.serve_state(spec, srv),
        "nics": {"lo": "127.0.0.1", srv.host_nic: srv.address},
        "stuck_ips": _stuck_ips(spec),
    }


def _stuck_ips(spec: ClusterSpec) -> list[str]:
    """Device IPs whose ranks hang at HCCL init (``stuck`` faults), cluster-wide: a rank hangs
    when its own card is listed, and waits for the listed peers (fake/hccl_init.py)."""
    out = []
    for fault in spec.dynamic_faults("stuck"):
        srv = spec.server(fault.server)
        out += [d.ip for d in srv.devices if d.ip and fault.device in (None, d.device_id)]
    return out


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def _write_tool(path: Path, module: str, state_path: Path) -> None:
    # -I: no user site, no PYTHON* variables; -S: no site-packages. Starts in ~10 ms.
    script = (
        f"#!{sys.executable} -IS\n"
        "import sys\n"
        f"sys.path.insert(0, {str(fake_dir())!r})\n"
        f"import {module}\n"
        f"sys.exit({module}.main(sys.argv[1:], {str(state_path)!r}))\n"
    )
    _write(path, script, 0o755)


# The static queries each launcher serves from a file: ``case`` patterns over the arguments
# -> the answer's key (see fake/answers.py). Anything that matches none runs the Python tool.
# Keep in step with HCCN_QUERIES there (tests/ops/test_sim_fastpath.py fails on a drift).
_HCCN_STATIC = "|".join(
    f"{len(q) + 2}:{':'.join(q)}" + ":" * (3 - len(q))
    for q in (
        ("-ip", "-g"),
        ("-ip", "-inet6", "-g"),
        ("-vnic", "-g"),
        ("-link", "-g"),
        ("-net_health", "-g"),
        ("-tls", "-g"),
        ("-gateway", "-g"),
        ("-netdetect", "-g"),
        ("-lldp", "-g"),
        ("-link_stat", "-g"),
    )
)
_KEYS = {
    "hccn_tool": f"""if [ "$1" = -i ] && [ $# -ge 3 ]; then
  case $2 in [0-9]|[0-9][0-9])
    if [ -f "$A/1/$2" ]; then k=$2  # an invalid device id, whatever the command
    else case "$#:$3:$4:$5" in {_HCCN_STATIC}) k=$2$3$4$5 ;; esac; fi ;;
  esac
fi
""",
    "npu-smi": 'case "$#:$1:$2" in 1:info:) k=info ;; 2:info:-l|2:info:-m) k=info$2 ;; esac\n',
}


# Ping (``-ping -g address IP``, ``-ping -inet6 -g ipv6_address IP``, nothing more): the device
# must be a canonical id with a ``ping/up|down/<id>`` file, the address a plain IP text. A
# down device or peer: the link-down answer. A pair with a planted rule (loss, custom reply
# times, the two dies of one A3 card): its own pre-rendered body; a known peer: the ok body;
# anything else (unknown address, ``pkt N``, ``-hccs_ping``): the Python tool. Bodies are the
# lines after the header, printed one by one with the probe time slept before each reply,
# as the Python tool does.
_PING = """if [ "$1" = -i ] && [ "$3" = -ping ] && [ -d "$A/ping" ]; then
  s= d=
  case "$#:$4:$5:$6" in 6:-g:address:*) d=$6 ;; 7:-inet6:-g:ipv6_address) s=6 d=$7 ;; esac
  case "$2:$d" in [0-9]:?*|[0-9][0-9]:?*) ;; *) d= ;; esac
  case $d in *[!0-9A-Fa-f.:]*) d= ;; esac
  if [ -n "$d" ] && { [ -f "$A/ping/up/$2" ] || [ -f "$A/ping/down/$2" ]; }; then
    if [ -f "$A/ping/down/$2" ] || [ -f "$P/down/$d" ]; then {cat} "$A/ping/linkdown"; exit 1; fi
    f= r=0
    if [ -f "$A/ping/pair/0/$2/$d" ]; then f=$A/ping/pair/0/$2/$d
    elif [ -f "$A/ping/pair/1/$2/$d" ]; then f=$A/ping/pair/1/$2/$d r=1
    elif [ -f "$P/up/$d" ] && ! [ -f "$A/ping/python/$2/$d" ]; then f=$A/ping/ok
    fi
    if [ -n "$f" ]; then
      printf 'device %s PING%s %s\\n' "$2" "$s" "$d"
      { for q in 0 1 2; do {sleep}IFS= read -r l; printf '%s\\n' "$l"; done
        IFS= read -r l; printf '%s\\n' "$l"; } < "$f"
      exit $r
    fi
  fi
fi
"""


def launcher(tool: str, answers: Path, python_tool: Path, *, peers: Path | None = None, probe_s: float = 0.0) -> str:
    """The POSIX sh ``hccn_tool`` / ``npu-smi``: a pre-rendered answer, else the Python tool.
    ``peers``: the cluster's ``peers`` folder (hccn_tool answers pings from it); ``probe_s``:
    the time each ping reply takes."""
    cat = shutil.which("cat", path="/usr/bin:/bin") or "cat"
    ping = ""
    if tool == "hccn_tool" and peers is not None:
        sleep = shutil.which("sleep", path="/usr/bin:/bin") or "sleep"
        pause = f"{shlex.quote(sleep)} {probe_s:.6f}; " if probe_s else ""
        ping = f"P={shlex.quote(str(peers))}\n" + _PING.replace("{cat}", cat).replace("{sleep}", pause)
    return (
        f"#!/bin/sh\n# simulated {tool}: static queries from {ANSWERS}, the rest in Python\n"
        f"A={shlex.quote(str(answers))}\nk=\n{_KEYS[tool]}"
        'if [ -n "$k" ]; then\n'
        f'  [ -f "$A/0/$k" ] && exec {cat} "$A/0/$k"\n'
        f'  [ -f "$A/1/$k" ] && {{ {cat} "$A/1/$k"; exit 1; }}\n'
        "fi\n"
        f"{ping}"
        f'exec {shlex.quote(sys.executable)} -IS {shlex.quote(str(python_tool))} "$@"\n'
    )


def render_answers(roots: list[Path]) -> None:
    """Pre-render the static answers of every server in ``roots`` (one Python process)."""
    for root in roots:
        shutil.rmtree(root / ANSWERS, ignore_errors=True)  # never serve a previous spec's
    jobs = json.dumps([[str(r / STATE), str(r / ANSWERS)] for r in roots])
    code = f"import sys; sys.path.insert(0, {str(fake_dir())!r}); import answers; sys.exit(answers.main())"
    proc = subprocess.run([sys.executable, "-IS", "-c", code], input=jobs, text=True, capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(
            f"pre-rendering the fake tools' answers failed ({fake_dir() / 'answers.py'}):\n{proc.stderr[-2000:]}"
        )


def _write_hostname(path: Path, name: str) -> None:
    real = shutil.which("hostname", path="/usr/bin:/bin")
    other = f'exec {real} "$@"' if real else 'echo "hostname: options not simulated" >&2; exit 1'
    _write(path, f"#!/bin/sh\nif [ $# -eq 0 ]; then echo {name}; else {other}; fi\n", 0o755)


def _write_ip(path: Path, address: str, nic: str) -> None:
    """``ip -o -4 addr show`` (and ``ip -4 -o addr``) answer ``lo`` and the server's address on
    ``nic``, in iproute2's one-line form; anything else goes to the real ``ip``."""
    real = shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin")
    other = f'exec {real} "$@"' if real else 'echo "ip: options not simulated" >&2; exit 1'
    tail = "\\       valid_lft forever preferred_lft forever"
    answer = f"1: lo    inet 127.0.0.1/8 scope host lo{tail}\n2: {nic}    inet {address}/24 scope global {nic}{tail}\n"
    _write(
        path,
        "#!/bin/sh\n"
        'case "$*" in "-o -4 addr show"|"-o -4 addr"|"-4 -o addr show"|"-4 -o addr") '
        f"printf '%s' {shlex.quote(answer)};; *) {other};; esac\n",
        0o755,
    )
