import subprocess

from console.core.discovery.findings import findings
from console.core.discovery.script import devices_script, split_sections
from console.core.inventory import CommandFailure, Device, Inventory, Server


def test_split_sections_ignores_banners_and_keeps_exit_status():
    text = "Welcome!\nMK BEGIN a\nline1\nline2\n\nMK END a 0\nnoise\nMK BEGIN b\nbusy\nMK END b 3\n"
    secs = split_sections(text, "MK")
    assert secs["a"].output == "line1\nline2\n" and secs["a"].exit_status == 0
    assert secs["b"].output == "busy\n" and secs["b"].exit_status == 3
    assert "noise" not in secs["a"].output


def test_split_sections_keeps_a_cut_off_section():
    secs = split_sections("MK BEGIN a\npartial", "MK")
    assert secs["a"].output == "partial\n" and secs["a"].exit_status is None


def test_marker_inside_output_does_not_split_other_names():
    secs = split_sections("MK BEGIN a\nMK END b 0\nMK END a 0\n", "MK")
    assert secs["a"].output == "MK END b 0\n"


def _run_script(tmp_path, tool_body: str, devices=(0, 1)):
    tool = tmp_path / "hccn_tool"
    tool.write_text("#!/bin/sh\n" + tool_body)
    tool.chmod(0o755)
    script = devices_script("MK", list(devices), tool_timeout=1)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=60)
    return split_sections(out.stdout, "MK")


def test_devices_script_runs_every_query_per_device(tmp_path):
    secs = _run_script(tmp_path, 'echo "args: $*"\n')
    assert secs["ip:1"].output == "args: -i 1 -ip -g\n"
    assert secs["tls:0"].exit_status == 0
    assert secs["lldp:1"].output == "args: -i 1 -lldp -g\n"
    assert len(secs) == 14


def test_busy_tool_is_retried_until_it_answers(tmp_path):
    counter = tmp_path / "n"
    counter.write_text("0")
    body = (
        f"n=$(cat {counter}); echo $((n+1)) > {counter}\n"
        f'if [ "$n" -lt 2 ]; then echo "hccn_tool is busy, please try again."; exit 1; fi\necho ok\n'
    )
    secs = _run_script(tmp_path, body, devices=(0,))
    assert secs["ip:0"].output == "ok\n"
    assert counter.read_text().strip() == str(2 + 7)


def test_hung_tool_costs_one_timeout_per_device(tmp_path):
    secs = _run_script(tmp_path, 'if [ "$2" = 1 ]; then sleep 30; fi\necho fine\n')
    assert secs["ip:1"].exit_status == 124
    assert secs["link:1"].exit_status == 124 and "skipped" in secs["link:1"].output
    assert secs["link:0"].output == "fine\n"


def _server(host, tls=0, driver="24.1.rc3", n=2, **dev_kw):
    devs = [
        Device(
            device_id=i,
            device_ip=f"10.{host[-1]}.0.{i}",
            netmask="255.255.255.0",
            link="UP",
            net_health="Success",
            tls=tls,
            health="OK",
        )
        for i in range(n)
    ]
    for i, kw in dev_kw.items():
        devs[int(i[1:])] = devs[int(i[1:])].model_copy(update=kw)
    return Server(host=host, server_id=host, reachable=True, driver_version=driver, cann_version="8.0", devices=devs)


def test_clean_cluster_has_no_findings():
    assert findings(Inventory(servers=[_server("h1"), _server("h2")])) == []


def test_tls_mismatch_names_the_outlier():
    inv = Inventory(servers=[_server("h1"), _server("h2"), _server("h3", tls=1)])
    fs = findings(inv)
    assert [(f.code, f.severity, f.where.host) for f in fs] == [("tls_mismatch", "error", "h3")]
    assert "0 on h[1-2]; 1 on h3" in fs[0].message


def test_identical_problems_fold_across_hosts():
    inv = Inventory(servers=[_server("h1", d1={"link": "DOWN"}), _server("h2", d1={"link": "DOWN"})])
    fs = findings(inv)
    assert [(f.code, f.where.host, f.where.device) for f in fs] == [("link_down", "h[1-2]", 1)]


def test_device_and_server_problems():
    inv = Inventory(
        servers=[
            _server("h1", driver="23.0", d0={"net_health": "Receive timeout", "busy_pids": [42]}),
            _server("h2", d1={"device_ip": "10.1.0.1", "health": "Critical"}),
            Server(host="h3", error="connection refused"),
        ]
    )
    got = {(f.code, f.severity, f.where.host) for f in findings(inv)}
    assert ("unreachable", "error", "h3") in got
    assert ("net_health", "error", "h1") in got
    assert ("npu_busy", "warning", "h1") in got
    assert ("duplicate_device_ip", "error", "h[1-2]") in got
    assert ("chip_health", "error", "h2") in got
    assert ("driver_version_mismatch", "warning", "h1") in got or ("driver_version_mismatch", "warning", "h2") in got


def test_failures_are_reported_with_their_command():
    s = _server("h1")
    s.devices[0].failures.append(CommandFailure(command="hccn_tool -i 0 -tls -g", output="x", message="unparsed"))
    fs = findings(Inventory(servers=[s]))
    assert fs[0].message.startswith("hccn_tool -i 0 -tls -g") and fs[0].where.device == 0
