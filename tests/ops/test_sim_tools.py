"""The fake hccn_tool / npu-smi, run directly as subprocesses (no SSH): outputs must equal
the real samples in tests/data byte for byte wherever the spec reproduces the sample."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from console.sim import state
from console.sim.spec import ClusterSpec


class Tools:
    """Run shell commands the way a simulated server's session does."""

    def __init__(self, spec: ClusterSpec, workdir: Path) -> None:
        self.spec = spec
        self.roots = state.write_cluster(spec, workdir)

    def run(self, cmd: str, server: int | str = 1, timeout: float = 20) -> tuple[str, int]:
        srv = self.spec.server(server)
        env = {**os.environ, **state.tool_env(self.roots[srv.name], srv)}
        proc = subprocess.run(["/bin/sh", "-c", cmd], env=env, capture_output=True, text=True, timeout=timeout)
        return proc.stdout + proc.stderr, proc.returncode


@pytest.fixture
def tools(tmp_path: Path):
    def make(spec: ClusterSpec | None = None, **kw: Any) -> Tools:
        return Tools(spec or (ClusterSpec.generate(**kw) if kw else ClusterSpec.default()), tmp_path / "sim")

    return make


def sample(data_dir: Path, name: str) -> str:
    return (data_dir / name).read_text()


def loop(cmd: str, devices: int = 8) -> str:
    return f"for i in $(seq 0 {devices - 1}); do hccn_tool -i $i {cmd}; done"


def test_default_cluster_queries_equal_the_samples(tools, data_dir) -> None:
    t = tools()
    assert t.run(loop("-ip -g")) == (sample(data_dir, "hccn_ip_loop_8dev.txt"), 0)
    assert t.run("hccn_tool -i 0 -ip -g") == (sample(data_dir, "hccn_ip.txt"), 0)
    assert t.run(loop("-tls -g")) == (sample(data_dir, "hccn_tls_8dev.txt"), 0)
    assert t.run("hccn_tool -i 0 -link -g") == (sample(data_dir, "hccn_link_up.txt"), 0)
    assert t.run("hccn_tool -i 0 -net_health -g") == (sample(data_dir, "hccn_net_health_ok.txt"), 0)
    assert t.run("npu-smi info -l") == (sample(data_dir, "npu_smi_info_l_a2.txt"), 0)
    assert t.run("npu-smi info -m") == (sample(data_dir, "npu_smi_info_m_a2.txt"), 0)
    assert t.run("hostname", 2) == ("node02\n", 0)


def test_ping_ok_and_the_guides_lossy_pair(tools, data_dir) -> None:
    t = tools()
    assert t.run("hccn_tool -i 0 -ping -g address 10.10.100.10") == (sample(data_dir, "hccn_ping_ok.txt"), 0)
    out, rc = t.run("hccn_tool -i 3 -ping -g address 10.10.100.25 pkt 64")
    assert rc != 0
    assert out == "device 3 PING 10.10.100.25\n" + sample(data_dir, "hccn_ping_loss_guide.txt")
    # only that direction and that pair are lossy
    assert t.run("hccn_tool -i 3 -ping -g address 10.10.100.13", 2)[0].endswith(" 0.00% packet loss\n")
    assert t.run("hccn_tool -i 2 -ping -g address 10.10.100.25")[1] == 0


def test_guide_typo_and_full_loss_and_unknown_ip(tools, data_dir) -> None:
    spec = ClusterSpec.generate(
        ok_ping_typo=True,
        faults=[{"kind": "loss", "src": 1, "src_device": 3, "dst": 2, "dst_device": 3, "percent": 100}],
    )
    t = tools(spec)
    assert t.run("hccn_tool -i 0 -ping -g address 10.10.100.10") == (sample(data_dir, "hccn_ping_ok_guide_typo.txt"), 0)
    assert t.run("hccn_tool -i 3 -ping -g address 10.10.100.25") == (sample(data_dir, "hccn_ping_all_lost.txt"), 1)
    out, rc = t.run("hccn_tool -i 0 -ping -g address 10.99.1.1")
    assert rc == 1 and out.count("recv time out seq=") == 3 and "100.00% packet loss" in out


def test_link_down_at_either_end(tools, data_dir) -> None:
    t = tools(ClusterSpec.generate(faults=[{"kind": "link_down", "server": 2, "device": 3}]))
    assert t.run("hccn_tool -i 3 -link -g", 2) == (sample(data_dir, "hccn_link_down.txt"), 0)
    expected = (sample(data_dir, "hccn_ping_link_down.txt"), 1)
    assert t.run("hccn_tool -i 3 -ping -g address 10.10.100.10", 2) == expected
    assert t.run("hccn_tool -i 0 -ping -g address 10.10.100.25", 1) == expected
    assert t.run("hccn_tool -i 3 -net_health -g", 2)[0] == "net health status: Fault\n"


def test_status_queries_match_samples(tools, data_dir) -> None:
    spec = ClusterSpec.generate(servers=1).model_dump()
    dev0 = spec["servers"][0]["devices"][0]
    dev0.update(
        gateway="11.12.165.1",
        netdetect="11.12.165.1",
        link_up_count=2,
        tls=1,
        tls_preconfigured=None,
        net_health="Receive timeout",
    )
    spec["servers"][0]["devices"][1]["gateway"] = None
    t = tools(ClusterSpec.model_validate(spec))
    assert t.run("hccn_tool -i 0 -gateway -g") == (sample(data_dir, "hccn_gateway.txt"), 0)
    assert t.run("hccn_tool -i 1 -gateway -g") == (sample(data_dir, "hccn_gateway_not_set.txt"), 1)
    assert t.run("hccn_tool -i 0 -netdetect -g") == (sample(data_dir, "hccn_netdetect.txt"), 0)
    assert t.run("hccn_tool -i 0 -link_stat -g") == (sample(data_dir, "hccn_link_stat.txt"), 0)
    assert t.run("hccn_tool -i 0 -tls -g") == (sample(data_dir, "hccn_tls_old_firmware_enabled.txt"), 0)
    assert t.run("hccn_tool -i 0 -net_health -g") == (sample(data_dir, "hccn_net_health_timeout.txt"), 0)
    out, rc = t.run("hccn_tool -i 0 -lldp -g")
    keys = [line.split(":")[0] for line in sample(data_dir, "hccn_lldp.txt").splitlines()]
    assert rc == 0 and [line.split(":")[0] for line in out.splitlines()][:4] == keys[:4]
    assert "\tIfname: 400GE1/1/1:1" in out.splitlines()


def test_error_lines_come_from_the_real_list(tools, data_dir) -> None:
    known = set(sample(data_dir, "hccn_errors.txt").splitlines())
    spec = ClusterSpec.generate(servers=1, cards=4).model_dump()
    spec["servers"][0]["devices"][2]["ip"] = ""
    t = tools(ClusterSpec.model_validate(spec))
    for cmd in [
        "hccn_tool -i 9 -ip -g",
        "hccn_tool -i x -ip -g",
        "hccn_tool -i 0 -bogus -g",
        "hccn_tool -i 6 -ip -g",
        "hccn_tool -i 0 -ping -g",
        "hccn_tool -ip -g",
    ]:
        out, rc = t.run(cmd)
        assert rc != 0 and out and set(out.splitlines()) <= known, cmd
    assert t.run("hccn_tool -i 2 -ip -g") == (sample(data_dir, "hccn_ip_not_set.txt"), 1)


def test_hccn_conf_equals_the_sample(tools, data_dir) -> None:
    devs = [
        {
            "device_id": n,
            "card_id": n,
            "logic_id": n,
            "ip": ip,
            "netmask": "255.255.0.0",
            "gateway": "29.1.0.1",
            "netdetect": "29.1.0.1",
        }
        for n, ip in [(0, "29.1.137.205"), (1, "29.1.137.206"), (7, "29.1.170.143")]
    ]
    spec = ClusterSpec.model_validate({"servers": [{"name": "n", "address": "127.0.0.5", "devices": devs}]})
    t = tools(spec)
    assert t.run('cat "$CLUSTER_CONSOLE_ROOT/etc/hccn.conf"') == (sample(data_dir, "hccn.conf"), 0)
    out, _ = t.run(
        'cat "$CLUSTER_CONSOLE_ROOT/usr/local/Ascend/driver/version.info" '
        '"$CLUSTER_CONSOLE_ROOT"/usr/local/Ascend/ascend-toolkit/latest/*-linux/'
        "ascend_toolkit_install.info"
    )
    assert out.startswith("Version=24.1.rc3\npackage_name=") and "\nversion=8.0.RC3\n" in out


def test_conf_mismatch_changes_only_the_file(tools) -> None:
    t = tools(
        ClusterSpec.generate(
            servers=1, cards=2, faults=[{"kind": "conf_mismatch", "server": 1, "device": 1, "address": "10.10.100.99"}]
        )
    )
    out, _ = t.run('cat "$CLUSTER_CONSOLE_ROOT/etc/hccn.conf"; hccn_tool -i 1 -ip -g')
    assert "address_1=10.10.100.99\n" in out and "ipaddr:10.10.100.11\n" in out


def test_npu_smi_table_a2_equals_the_sample(tools, data_dir) -> None:
    spec = ClusterSpec.generate(servers=1, driver_version="23.0.rc2").model_dump()
    srv = spec["servers"][0]
    srv["npu_name"] = "910B1"
    srv["devices"][5]["health"] = "Warning"
    srv["devices"][1]["processes"] = [{"pid": 2214871, "name": "python3", "memory_mb": 60156}]
    out, rc = tools(ClusterSpec.model_validate(spec)).run("npu-smi info")
    expected = sample(data_dir, "npu_smi_info_a2.txt")
    assert rc == 0 and out.startswith(expected)
    assert "| No running processes found in NPU 7" in out


def test_a3_tools_equal_the_samples(tools, data_dir) -> None:
    spec = ClusterSpec.generate(servers=1, cards=2, product="A3").model_dump()
    devs = spec["servers"][0]["devices"]
    for dev, (power, temp, bus) in zip(
        devs, [(182.0, 36, "9D"), (None, 35, "9F"), (180.3, 37, "99"), (None, 36, "9B")], strict=True
    ):
        dev.update(power_w=power, temp_c=temp, bus_id=f"0000:{bus}:00.0")
    devs[0]["vnic_ip"] = "192.168.2.199"
    t = tools(ClusterSpec.model_validate(spec))
    assert t.run("npu-smi info")[0].startswith(sample(data_dir, "npu_smi_info_a3_2cards.txt"))
    assert t.run("hccn_tool -i 0 -vnic -g") == (sample(data_dir, "hccn_vnic_a3.txt"), 0)
    big = tools(product="A3")
    assert big.run("npu-smi info -l") == (sample(data_dir, "npu_smi_info_l_a3.txt"), 0)
    assert big.run("hccn_tool -i 0 -hccs_ping -g address 10.20.0.17") == (sample(data_dir, "hccn_hccs_ping_a3.txt"), 0)
    out, _rc = big.run("hccn_tool -i 15 -ip -g; npu-smi info -m | grep -c Ascend910")
    assert out == "ipaddr:10.20.0.25\nnetmask:255.255.255.0\n16\n"
    # the two dies of one card cannot RoCE-ping each other
    assert "100.00% packet loss" in big.run("hccn_tool -i 0 -ping -g address 10.20.0.11")[0]


def test_a2_refuses_a3_commands(tools) -> None:
    t = tools()
    assert t.run("hccn_tool -i 0 -vnic -g") == ("The command is not supported on this product.\n", 1)
    assert t.run("hccn_tool -i 16 -ip -g")[1] == 1


def test_busy_for_the_first_k_calls_then_ok(tools) -> None:
    t = tools(ClusterSpec.generate(faults=[{"kind": "busy", "server": 1, "calls": 2}]))
    out, _ = t.run("for n in 1 2 3 4; do hccn_tool -i 0 -link -g; echo rc=$?; done")
    assert out == ("hccn_tool is busy, please try again.\nrc=1\n" * 2 + "link status: UP\nrc=0\n" * 2)
    assert t.run("hccn_tool -i 0 -link -g", 2) == ("link status: UP\n", 0)


def test_hang_sleeps_until_killed(tools) -> None:
    t = tools(ClusterSpec.generate(faults=[{"kind": "hang", "server": 1, "device": 2, "command": "-ping"}]))
    assert t.run("hccn_tool -i 2 -link -g") == ("link status: UP\n", 0)
    out, _rc = t.run("timeout 1 hccn_tool -i 2 -ping -g address 10.10.100.22; echo rc=$?")
    assert out == "rc=124\n"


def test_ipv6_address_and_ping(tools) -> None:
    spec = ClusterSpec.generate(servers=2, cards=1).model_dump()
    spec["servers"][0]["devices"][0]["ipv6"] = "fd00:10::10"
    spec["servers"][1]["devices"][0]["ipv6"] = "fd00:10::22"
    t = tools(ClusterSpec.model_validate(spec))
    assert t.run("hccn_tool -i 0 -ip -inet6 -g") == ("ipaddr:fd00:10::10\nprefix_length:64\n", 0)
    out, rc = t.run("hccn_tool -i 0 -ping -inet6 -g ipv6_address fd00:10::22")
    assert rc == 0 and out.startswith("device 0 PING6 fd00:10::22\nrecv seq=0,time=0.067000ms\n")
    assert t.run("hccn_tool -i 0 -ip -inet6 -g", 2)[0] == "ipaddr:fd00:10::22\nprefix_length:64\n"
