"""Turn the sections printed by discovery's scripts into Server / Device models."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from console.core.discovery.script import A3_QUERIES, DEVICE_QUERIES, Section, device_command, spod_command
from console.core.inventory import CommandFailure, Device, Server
from console.core.parsers import (
    GatewayInfo,
    HccnConf,
    IpConfig,
    LinkStatus,
    LldpInfo,
    NetdetectInfo,
    NetHealth,
    NpuChipMap,
    NpuList,
    NpuSmiInfo,
    SpodInfo,
    TlsReport,
    ToolError,
    Unparsed,
    VnicConfig,
    parse_gateway,
    parse_hccn_conf,
    parse_ip,
    parse_link,
    parse_lldp,
    parse_net_health,
    parse_netdetect,
    parse_npu_chip_map,
    parse_npu_list,
    parse_npu_smi_info,
    parse_spod_info,
    parse_tls,
    parse_vnic,
)
from console.core.parsers.ip_addr import HostAddresses, parse_ip_addr

SERVER_COMMANDS = {
    "hostname": "hostname",
    "npu_l": "npu-smi info -l",
    "npu_m": "npu-smi info -m",
    "npu_info": "npu-smi info",
    "hccn_conf": "cat /etc/hccn.conf",
    "host_ip": "ip -o -4 addr show",
    "driver": "cat /usr/local/Ascend/driver/version.info",
    "cann": "cat /usr/local/Ascend/ascend-toolkit/latest/*-linux/ascend_toolkit_install.info",
}
_VERSION = re.compile(r"^\s*version\s*=\s*(\S+)", re.IGNORECASE | re.MULTILINE)
_QUERY_ARGS = dict(DEVICE_QUERIES + A3_QUERIES)

T = TypeVar("T")


def _failure(command: str, sec: Section | None, message: str) -> CommandFailure:
    if sec is None:
        return CommandFailure(command=command, message=message or "no answer (output cut off)")
    if sec.exit_status == 124:
        skipped = sec.output.startswith("skipped:")
        message = sec.output.strip() if skipped else "timed out (hccn_tool can hang on a sick card)"
    return CommandFailure(command=command, exit_status=sec.exit_status, output=sec.output, message=message)


def _why(result: object) -> str:
    if isinstance(result, ToolError):
        return result.message
    if isinstance(result, Unparsed):
        return f"output not understood ({result.reason})"
    return "no usable answer"


def _version(sec: Section | None) -> str | None:
    if sec is None or sec.exit_status != 0:
        return None
    m = _VERSION.search(sec.output)
    return m.group(1) if m else None


def _parsed(
    sections: dict[str, Section],
    name: str,
    parser: Callable[[str], object],
    model: type[T],
    failures: list[CommandFailure],
) -> T | None:
    sec = sections.get(name)
    result = parser(sec.output) if sec is not None and sec.exit_status == 0 else None
    if isinstance(result, model):
        return result
    failures.append(
        _failure(
            SERVER_COMMANDS[name],
            sec,
            _why(result) if result is not None else (sec.output.strip().splitlines() or ["failed"])[-1] if sec else "",
        )
    )
    return None


def _devices_from_cards(chip_map: NpuChipMap | None, npu_list: NpuList | None, cpc: int) -> list[Device]:
    if chip_map is not None and chip_map.chips:
        return [
            Device(
                device_id=r.phy_id if r.phy_id is not None else r.npu_id * cpc + r.chip_id,
                card=r.npu_id,
                chip=r.chip_id,
                logic_id=r.logic_id,
            )
            for r in chip_map.chips
        ]
    if npu_list is not None:
        return [
            Device(device_id=c.npu_id * cpc + chip, card=c.npu_id, chip=chip)
            for c in npu_list.cards
            for chip in range(c.chip_count or 1)
        ]
    return []


def _apply_npu_info(dev: Device, info: NpuSmiInfo) -> Device:
    chip = next((c for c in info.chips if c.phy_id == dev.device_id), None) if info.layout == "A3" else None
    chip = chip or info.chip(dev.card if dev.card is not None else dev.device_id, dev.chip or 0)
    pids = [p.pid for p in info.processes_on(dev.card if dev.card is not None else dev.device_id, dev.chip)]
    return dev.model_copy(update={"health": chip.health if chip else None, "busy_pids": pids})


def assemble_server(host: str, server_id: str | None, sections: dict[str, Section]) -> Server:
    """Round trip 1 -> the server and its (not yet networked) devices."""
    failures: list[CommandFailure] = []
    hostname = sections["hostname"].output.strip() if "hostname" in sections else None
    npu_list = _parsed(sections, "npu_l", parse_npu_list, NpuList, failures)
    chip_map = _parsed(sections, "npu_m", parse_npu_chip_map, NpuChipMap, failures)
    info = _parsed(sections, "npu_info", parse_npu_smi_info, NpuSmiInfo, failures)
    conf_sec = sections.get("hccn_conf")
    conf = parse_hccn_conf(conf_sec.output) if conf_sec is not None and conf_sec.exit_status == 0 else None
    cpc = (npu_list.chips_per_card if npu_list else None) or (2 if info and info.layout == "A3" else 1)
    devices = _devices_from_cards(chip_map, npu_list, cpc)
    if not devices and isinstance(conf, HccnConf):
        devices = [Device(device_id=i) for i in sorted(conf.devices)]
    if info is not None:
        devices = [_apply_npu_info(d, info) for d in devices]
    if isinstance(conf, HccnConf):
        devices = [_conf_ip(d, conf) for d in devices]
    addrs = _parsed(sections, "host_ip", parse_ip_addr, HostAddresses, failures)
    nic = addrs.nic_of(server_id) if addrs is not None and server_id else None
    return Server(
        host=host,
        server_id=server_id,
        hostname=hostname or None,
        reachable=True,
        host_ip=server_id if nic else None,
        host_nic=nic,
        host_addresses=addrs.addresses if addrs is not None else [],
        product=("A3" if cpc == 2 else "A2") if devices else None,
        chips_per_card=cpc,
        driver_version=_version(sections.get("driver")),
        cann_version=_version(sections.get("cann")),
        devices=sorted(devices, key=lambda d: d.device_id),
        failures=failures,
    )


def _conf_ip(dev: Device, conf: HccnConf) -> Device:
    entry = conf.devices.get(dev.device_id)
    if entry is None or not entry.address:
        return dev
    return dev.model_copy(
        update={
            "conf_ip": entry.address,
            "device_ip": entry.address,
            "netmask": entry.netmask,
            "ip_source": "hccn.conf",
        }
    )


def device_ids(server: Server) -> list[int]:
    return [d.device_id for d in server.devices]


_PARSERS = {
    "ip": (parse_ip, IpConfig),
    "vnic": (parse_vnic, VnicConfig),
    "link": (parse_link, LinkStatus),
    "net_health": (parse_net_health, NetHealth),
    "tls": (parse_tls, TlsReport),
    "gateway": (parse_gateway, GatewayInfo),
    "netdetect": (parse_netdetect, NetdetectInfo),
    "lldp": (parse_lldp, LldpInfo),
}
_OPTIONAL = {"gateway", "netdetect", "vnic"}  # "not set" answers are normal for these
_SILENT = {"lldp"}  # many sites disable LLDP: no answer (an error, nothing printed) is no failure


def _update_from(name: str, result: Any, dev: Device) -> dict[str, Any]:
    if name == "ip":
        return {"device_ip": result.ipaddr, "netmask": result.netmask, "ip_source": "hccn_tool"}
    if name == "vnic":
        if dev.ip_source == "hccn_tool" or not result.ipaddr:
            return {}
        return {"device_ip": result.ipaddr, "netmask": result.netmask, "ip_source": "vnic"}
    if name == "link":
        return {"link": result.status}
    if name == "net_health":
        return {"net_health": result.status}
    if name == "tls":
        sw = next((t.switch for t in result.devices if t.dev_id == dev.device_id), None)
        sw = sw if sw is not None else (result.devices[0].switch if result.devices else None)
        return {"tls": 0 if sw is None and result.no_certificate else sw}
    if name == "gateway":
        return {"gateway": result.gateway}
    if name == "lldp":
        switch, port = result.system_name or result.chassis_id, result.port_ifname or result.port_id
        return {"lldp_switch": switch, "lldp_port": port}
    return {"netdetect": result.address}


def _lldp_trouble(sec: Section | None, result: object) -> str | None:
    """What went wrong with a device's ``-lldp -g`` that is worth a note (a timeout, output
    not understood); None when it answered or said nothing (LLDP off: silent)."""
    if sec is not None and sec.exit_status == 124:
        return "timed out"
    said = sec.output.strip() if sec is not None and sec.exit_status == 0 else ""
    if isinstance(result, Unparsed) and said and "fail" not in said.lower():  # "Get lldp info failed": off
        return f"output not understood ({result.reason})"
    return None


def _assemble_device(dev: Device, sections: dict[str, Section], lldp: dict[str, list[int]]) -> Device:
    failures = list(dev.failures)
    for name, (parser, model) in _PARSERS.items():
        sec = sections.get(f"{name}:{dev.device_id}")
        if sec is None and name == "vnic":
            continue
        result = parser(sec.output) if sec is not None else None
        if isinstance(result, model) and sec.exit_status in (0, None):
            dev = dev.model_copy(update=_update_from(name, result, dev))
        elif name in _SILENT:
            if (trouble := _lldp_trouble(sec, result)) is not None:
                lldp.setdefault(trouble, []).append(dev.device_id)
        elif not (name in _OPTIONAL and isinstance(result, ToolError)):
            cmd = device_command(dev.device_id, _QUERY_ARGS[name])
            failures.append(_failure(cmd, sec, _why(result) if result is not None else ""))
    return dev.model_copy(update={"failures": failures})


def _lldp_note(trouble: dict[str, list[int]]) -> str | None:
    """One line for the server: a timeout first (the rest of its devices were not asked)."""
    if "timed out" in trouble:
        return "hccn_tool -lldp -g timed out (not asked again on this server's other devices): switches unknown"
    if trouble:
        what, devices = next(iter(trouble.items()))
        return f"hccn_tool -lldp -g: {what} on {len(devices)} device(s): switches unknown"
    return None


def _apply_spod(dev: Device, sec: Section | None) -> tuple[Device, str | None]:
    """A3: the die's super_device_id and its SuperPoD id (rank table 1.2)."""
    if sec is None:
        return dev, None
    result = parse_spod_info(sec.output) if sec.exit_status == 0 else None
    if isinstance(result, SpodInfo):
        return dev.model_copy(update={"super_device_id": result.sdid}), result.super_pod_id
    failure = _failure(
        spod_command(dev.card or 0, dev.chip or 0),
        sec,
        _why(result) if result is not None else sec.output.strip() or "failed",
    )
    return dev.model_copy(update={"failures": [*dev.failures, failure]}), None


def assemble_devices(server: Server, sections: dict[str, Section]) -> Server:
    """Round trip 2 -> each device's NIC facts; hccn.conf stays the fallback for IPs."""
    devices, pods = [], []
    lldp: dict[str, list[int]] = {}
    for d in server.devices:
        dev, pod = _apply_spod(_assemble_device(d, sections, lldp), sections.get(f"spod:{d.device_id}"))
        devices.append(dev)
        pods += [pod] if pod else []
    update: dict[str, Any] = {"devices": devices, "lldp_note": _lldp_note(lldp)}
    if pods:
        update["super_pod_id"] = pods[0]
    return server.model_copy(update=update)
