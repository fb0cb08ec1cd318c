"""The fake tools' fast path: pre-rendered answers of static queries, served by POSIX sh
launchers, must be byte-identical (stdout, stderr, exit status) to the Python tools' answers,
and everything else must still reach the Python tools."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from console.sim import state
from console.sim.spec import ClusterSpec, ServerSpec

HCCN_QUERIES = [
    ["-ip", "-g"],
    ["-ip", "-inet6", "-g"],
    ["-vnic", "-g"],
    ["-link", "-g"],
    ["-net_health", "-g"],
    ["-tls", "-g"],
    ["-gateway", "-g"],
    ["-netdetect", "-g"],
    ["-lldp", "-g"],
    ["-link_stat", "-g"],
]
NPU_QUERIES = [["info"], ["info", "-l"], ["info", "-m"]]
INVALID_IDS = ["8", "9", "15", "16", "17", "42", "99", "08", "09"]


def static_queries(product: str) -> list[list[str]]:
    limit = 16 if product == "A3" else 8
    hccn = [["hccn_tool", "-i", str(n), *q] for n in range(limit) for q in HCCN_QUERIES]
    hccn += [["hccn_tool", "-i", n, *q] for n in INVALID_IDS if int(n) >= limit for q in (["-ip", "-g"], ["-x"])]
    return hccn + [["npu-smi", *q] for q in NPU_QUERIES]


def run_batch(root: Path, calls: list[list[str]], out: Path, *, python: bool) -> list[tuple]:
    """Run every call in ONE shell with an empty environment (the tools have their paths
    built in); each call's stdout+stderr bytes and exit status. ``python``: run the Python
    tools' own launchers instead of the sh ones."""
    tools = {"hccn_tool": root / state.HCCN_TOOL, "npu-smi": root / state.BIN_DIR / "npu-smi"}
    if python:
        tools = {"hccn_tool": root / state.PY_TOOLS / "hccn_tool.py", "npu-smi": root / state.PY_TOOLS / "npu_smi.py"}
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{shlex.quote(str(tools[c[0]]))} {shlex.join(c[1:])} >{out}/{i} 2>&1; echo $? >{out}/{i}.rc"
        for i, c in enumerate(calls)
    ]
    subprocess.run(["/bin/sh", "-c", "\n".join(lines)], env={}, check=True, timeout=300)
    return [((out / str(i)).read_bytes(), int((out / f"{i}.rc").read_text())) for i in range(len(calls))]


def hide_python_tools(root: Path) -> None:
    """From now on a call that is not served from a file fails loudly."""
    for name in ("hccn_tool.py", "npu_smi.py"):
        (root / state.PY_TOOLS / name).rename(root / state.PY_TOOLS / f"{name}.hidden")


@pytest.mark.parametrize(
    "spec",
    [
        ClusterSpec.default(),
        ClusterSpec.generate(
            servers=2,
            cards=4,
            product="A3",
            faults=[{"kind": "link_down", "server": 1, "device": 2}, {"kind": "tls", "server": 1}],
        ),
    ],
    ids=["default", "a3"],
)
def test_every_static_query_is_served_from_a_file_with_the_python_bytes(spec, tmp_path) -> None:
    roots = state.write_cluster(spec, tmp_path / "sim")
    srv: ServerSpec = spec.servers[0]
    root = roots[srv.name]
    calls = static_queries(srv.product)
    expected = run_batch(root, calls, tmp_path / "py", python=True)
    hide_python_tools(root)
    got = run_batch(root, calls, tmp_path / "fast", python=False)
    for call, want, have in zip(calls, expected, got, strict=True):
        assert have == want, shlex.join(call)
    assert {rc for _, rc in got} == {0, 1}  # the failures (no gateway, invalid id) too
    assert any(b"ipaddr:" in text for text, _ in got)


def test_other_arguments_and_dynamic_faults_run_the_python_tool(tmp_path) -> None:
    spec = ClusterSpec.generate(servers=2, cards=2, faults=[{"kind": "busy", "server": 2, "calls": 1}])
    roots = state.write_cluster(spec, tmp_path / "sim")
    calls = [
        ["hccn_tool", "-i", "0", "-ip", "-g", ""],
        ["hccn_tool", "-i", "00", "-ip", "-g"],
        ["hccn_tool", "-i", "0", "-ping", "-g", "address", "10.10.100.22"],
        ["hccn_tool", "-i", "0 -ip", "-g"],
        ["hccn_tool", "-i", "../0", "-ip", "-g"],
        ["hccn_tool", "-h"],
        ["npu-smi", "info", "-l", ""],
        ["npu-smi", "info", "-x"],
    ]
    a, b = (roots[s.name] for s in spec.servers)
    expected = run_batch(a, calls, tmp_path / "py", python=True)
    assert run_batch(a, calls, tmp_path / "sh", python=False) == expected
    assert expected[2][0].startswith(b"device 0 PING 10.10.100.22\n") and expected[2][1] == 0
    # server 2 plays the busy fault: its first hccn_tool call says busy, however static
    assert not (b / state.ANSWERS / "hccn_tool").exists()
    first, second = run_batch(b, [["hccn_tool", "-i", "1", "-link", "-g"]] * 2, tmp_path / "b", python=False)
    assert first == (b"hccn_tool is busy, please try again.\n", 1)
    assert second == (b"link status: UP\n", 0)
    hide_python_tools(a)
    assert run_batch(a, calls[:1], tmp_path / "hidden", python=False)[0][1] != 0


def test_rewriting_a_root_never_serves_the_previous_specs_answers(tmp_path) -> None:
    state.write_cluster(ClusterSpec.generate(servers=1, cards=2), tmp_path / "sim")
    spec = ClusterSpec.generate(servers=1, cards=2, faults=[{"kind": "link_down", "server": 1, "device": 1}])
    root = state.write_cluster(spec, tmp_path / "sim")[spec.servers[0].name]
    call = [["hccn_tool", "-i", "1", "-link", "-g"]]
    assert run_batch(root, call, tmp_path / "o", python=False) == [(b"link status: DOWN\n", 0)]


# ---- ping: a shell-level lookup, no Python for ok, lossy or link-down pairs ----------------


def ping_calls(spec: ClusterSpec, src: ServerSpec) -> list[list[str]]:
    """From every device of ``src`` to every address of the cluster (v4, v6, vnic), plus an
    unknown address and argument spellings that must reach the Python tool."""
    calls = []
    for dev in src.devices:
        for srv in spec.servers:
            for peer in srv.devices:
                for ip in (peer.ip, peer.vnic_ip):
                    if ip:
                        calls.append(["hccn_tool", "-i", str(dev.device_id), "-ping", "-g", "address", ip])
                if peer.ipv6:
                    calls.append(
                        ["hccn_tool", "-i", str(dev.device_id), "-ping", "-inet6", "-g", "ipv6_address", peer.ipv6]
                    )
    return calls


def python_only_calls(spec: ClusterSpec) -> list[list[str]]:
    ip = spec.servers[1].devices[0].ip
    return [
        ["hccn_tool", "-i", "0", "-ping", "-g", "address", "10.99.99.99"],
        ["hccn_tool", "-i", "0", "-ping", "-g", "address", ip, "pkt", "5"],
        ["hccn_tool", "-i", "00", "-ping", "-g", "address", ip],
        ["hccn_tool", "-i", "0", "-ping", "-g", "address", f"{ip}/../x"],
    ]


PING_SPECS = {
    "a2-faults": ClusterSpec.generate(
        servers=3,
        cards=4,
        faults=[
            {"kind": "loss", "src": 1, "src_device": 1, "dst": 2, "dst_device": 2},
            {"kind": "loss", "src": 1, "src_device": 2, "dst": 3, "lost_seqs": [0, 1, 2], "symmetric": True},
            {
                "kind": "loss",
                "src": 1,
                "src_device": 3,
                "dst": 2,
                "dst_device": 0,
                "lost_seqs": [1],
                "times_ms": [1.5, 2.25, 3.0],
                "guide_typo": True,
            },
            {
                "kind": "loss",
                "src": 1,
                "src_device": 0,
                "dst": 3,
                "dst_device": 3,
                "lost_seqs": [],
                "times_ms": [0.5, 0.6, 0.7],
            },
            {"kind": "link_down", "server": 1, "device": 0},  # the source's own link
            {"kind": "link_down", "server": 2, "device": 3},  # a peer's link
        ],
        ok_ping_typo=True,
        ping_probe_s=0.001,
    ),
    "a3": ClusterSpec.generate(
        servers=2,
        cards=2,
        product="A3",
        faults=[
            {"kind": "loss", "src": 1, "src_device": 1, "dst": 2, "dst_device": 3, "lost_seqs": [0]},
            {"kind": "link_down", "server": 2, "device": 1},
        ],
    ),
}


@pytest.mark.parametrize("name", list(PING_SPECS))
def test_pings_are_answered_by_the_shell_with_the_python_bytes(name, tmp_path) -> None:
    spec = PING_SPECS[name]
    roots = state.write_cluster(spec, tmp_path / "sim")
    src = spec.servers[0]
    root = roots[src.name]
    calls = ping_calls(spec, src)
    expected = run_batch(root, calls, tmp_path / "py", python=True)
    kinds = {(rc, text.split(b"\n")[1][:9]) for text, rc in expected}
    # ok, lossy, all lost, link down (either end), custom times: every kind is in the batch
    assert {0, 1} == {rc for _, rc in expected} and len(kinds) >= 3, kinds
    assert any(b"packet loss" in t and rc == 1 for t, rc in expected)
    assert any(t.startswith(b"Execute failed: Link status is down.") for t, _ in expected)
    hide_python_tools(root)  # from here a call that reaches Python fails
    got = run_batch(root, calls, tmp_path / "fast", python=False)
    for call, want, have in zip(calls, expected, got, strict=True):
        assert have == want, shlex.join(call)


def test_unusual_pings_still_reach_the_python_tool(tmp_path) -> None:
    spec = PING_SPECS["a2-faults"]
    roots = state.write_cluster(spec, tmp_path / "sim")
    root = roots[spec.servers[1].name]
    calls = python_only_calls(spec)
    expected = run_batch(root, calls, tmp_path / "py", python=True)
    assert run_batch(root, calls, tmp_path / "sh", python=False) == expected
    assert expected[0][0].endswith(b"3 packets transmitted, 0 received, 100.00% packet loss\n")
    hide_python_tools(root)
    assert all(
        rc == 127 or b"hccn_tool.py" in text for text, rc in run_batch(root, calls, tmp_path / "hidden", python=False)
    )


def test_a_server_that_plays_busy_or_hang_pings_through_python(tmp_path) -> None:
    spec = ClusterSpec.generate(servers=2, cards=2, faults=[{"kind": "busy", "server": 1, "calls": 1}])
    roots = state.write_cluster(spec, tmp_path / "sim")
    root = roots[spec.servers[0].name]
    call = ["hccn_tool", "-i", "0", "-ping", "-g", "address", spec.servers[1].devices[0].ip]
    first, second = run_batch(root, [call, call], tmp_path / "b", python=False)
    assert first == (b"hccn_tool is busy, please try again.\n", 1)
    assert second[1] == 0 and second[0].startswith(b"device 0 PING ")


def test_the_per_server_state_does_not_grow_with_the_cluster(tmp_path) -> None:
    """Every server's state used to hold the whole cluster's peer table (8,192 addresses at
    1,024 servers: 0.5 MB per server, parsed by every Python tool call)."""
    small = state.write_cluster(ClusterSpec.generate(servers=2, cards=8), tmp_path / "a")
    big = state.write_cluster(ClusterSpec.generate(servers=64, cards=8), tmp_path / "b")
    size = {k: (next(iter(r.values())) / state.STATE).stat().st_size for k, r in (("s", small), ("b", big))}
    assert size["b"] < size["s"] * 1.2, size
