"""Fake ``hccn_tool``: ``hccn_tool -i <phy_id> -<cmd> -g ...``, in the real tool's words.

Exit status 0 on success, 1 on any failure (errors, packet loss), like the real tool's
non-zero codes. Errors go to stdout, as the real tool prints them.
"""

from __future__ import annotations

import binascii
import sys

import ccsim
from ccsim import out
from hccn_ping import NOT_SUPPORTED, Usage, hccs_ping, ping

INVALID_CMD = "Get invalid major cmd.\nEnter [ hccn_tool -h ] for more details.\n"
INVALID_DEVICE = "Get invalid device id.\nEnter [ hccn_tool -h ] for more details.\n"
HELP = """Usage: hccn_tool -i <device_id> -<command> -g|-s [options]
  -ip -g | -ip -inet6 -g           RoCE NIC address
  -vnic -g                         virtual NIC (A3)
  -ping -g address <ip> [pkt <n>]  RoCE ping (-ping -inet6 -g ipv6_address <ip6>)
  -hccs_ping -g address <ip>       HCCS ping (A3 SuperPoD)
  -link -g | -link_stat -g | -net_health -g | -netdetect -g | -gateway -g
  -tls -g | -lldp -g
"""
_LAST_CHANGE_S = 16 * 3600 + 32 * 60 + 12  # newest link change record: 16:32:12


def _stamp(i: int) -> str:
    """Time of the i-th newest link change record (2 s apart, fixed: output is stable)."""
    s = _LAST_CHANGE_S - 2 * i
    return f"Tue Jun  6 {s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d} 2023"


def _get(rest: list[str], *extra: str) -> None:
    """Accept exactly ``-g`` (optionally followed by one of ``extra``)."""
    if not rest or rest[0] != "-g" or len(rest) > 2 or (len(rest) == 2 and rest[1] not in extra):
        raise Usage


def ip(state: dict, dev: dict, rest: list[str]) -> int:
    if rest[:1] == ["-inet6"]:
        _get(rest[1:])
        if not dev["ipv6"]:
            out("Get ipconf failed, because no ip was preset there!\n")
            return 1
        out(f"ipaddr:{dev['ipv6']}\nprefix_length:{dev['prefix_length']}\n")
        return 0
    _get(rest)
    if not dev["ip"]:
        out("Get ipconf failed, because no ip was preset there!\n")
        return 1
    out(f"ipaddr:{dev['ip']}\nnetmask:{dev['netmask']}\n")
    return 0


def vnic(state: dict, dev: dict, rest: list[str]) -> int:
    _get(rest)
    if state["product"] != "A3":
        out(NOT_SUPPORTED)
        return 1
    out(f"vnic link status: {dev['vnic_link']}\nvnic ipaddr: {dev['vnic_ip']}\nvnic netmask: {dev['vnic_netmask']}\n")
    return 0


def link(state: dict, dev: dict, rest: list[str]) -> int:
    _get(rest)
    out(f"link status: {dev['link']}\n")
    return 0


def link_stat(state: dict, dev: dict, rest: list[str]) -> int:
    _get(rest)
    n = dev["device_id"]
    records = ["LINK UP", "LINK DOWN"] * (dev["link_up_count"] - 1)
    if dev["link"] != "UP":
        records.insert(0, "LINK DOWN")
    lines = [
        f"[device {n}]current time        : Wed Jun  7 10:08:28 2023",
        f"[device {n}]link up count       : {dev['link_up_count']}",
        f"[device {n}]link change records :",
    ]
    lines += [f"[device {n}]    {_stamp(i)}    {what}" for i, what in enumerate(records)]
    out("\n".join(lines) + "\n")
    return 0


def net_health(state: dict, dev: dict, rest: list[str]) -> int:
    _get(rest, "all")
    out(f"net health status: {dev['net_health']}\n")
    return 0


def netdetect(state: dict, dev: dict, rest: list[str]) -> int:
    _get(rest)
    out(f"netdetect address: {dev['netdetect'] or ''}\n")
    return 0


def gateway(state: dict, dev: dict, rest: list[str]) -> int:
    _get(rest)
    if not dev["gateway"]:
        out("Get gateway failed, because no gateway was preset there!\n")
        return 1
    out(f"default gateway:{dev['gateway']}, Iface:eth{dev['device_id']}\n")
    return 0


def tls(state: dict, dev: dict, rest: list[str]) -> int:
    _get(rest)
    pre = dev["tls_preconfigured"]
    middle = "" if pre is None else f", tls preconfigured[{pre}](0:non-preset, 1:preset)"
    out(
        f"dev_id:{dev['device_id']}, tls switch[{dev['tls']}](0:disable, 1:enable)"
        f"{middle}, tls alarm time threshold[60]days\n"
    )
    return 0


def lldp(state: dict, dev: dict, rest: list[str]) -> int:
    _get(rest)
    name = dev.get("lldp_switch")
    if not name:  # LLDP off on the switch or the card: no TLV to show
        return 0
    sw = binascii.crc32(name.encode())  # the switch's own MAC and management address
    out(
        f"Chassis ID TLV\n\tMAC: 3c:f5:cc:{sw >> 16 & 255:02x}:{sw >> 8 & 255:02x}:{sw & 255:02x}\n"
        f"Port ID TLV\n\tIfname: {dev['lldp_port']}\n"
        f"System Name TLV\n\t{name}\n"
        "System Description TLV\n\tHuawei Versatile Routing Platform Software\n"
        "System Capabilities TLV\n\tEnabled capabilities: Bridge, Router\n"
        f"Management Address TLV\n\tIPv4: 26.10.{sw >> 8 & 255}.{sw & 255}\n"
        "Maximum Frame Size TLV\n\t9216\nEnd of LLDPDU TLV\n"
    )
    return 0


COMMANDS = {
    "-ip": ip,
    "-vnic": vnic,
    "-ping": ping,
    "-hccs_ping": hccs_ping,
    "-link": link,
    "-link_stat": link_stat,
    "-net_health": net_health,
    "-netdetect": netdetect,
    "-gateway": gateway,
    "-tls": tls,
    "-lldp": lldp,
}


def _device_id(arg: str, product: str) -> int | None:
    if not (arg.isdigit() and len(arg) <= 2):
        return None
    n = int(arg)
    return n if n < (16 if product == "A3" else 8) else None


def main(argv: list[str], state_path: str) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        out(HELP)
        return 0
    state = ccsim.load(state_path)
    if argv[0] != "-i" or len(argv) < 3:
        out(INVALID_CMD)
        return 1
    dev_id = _device_id(argv[1], state["product"])
    if dev_id is None:
        out(INVALID_DEVICE)
        return 1
    if ccsim.take_busy(state):
        out(ccsim.BUSY + "\n")
        return 1
    dev = state["devices"].get(str(dev_id))
    if dev is None:
        out("The device is not exist!\n")
        return 1
    handler = COMMANDS.get(argv[2])
    if handler is None:
        out(INVALID_CMD)
        return 1
    ccsim.hang_if_asked(state, dev_id, argv[2])
    try:
        return handler(state, dev, argv[3:])
    except Usage:
        out(INVALID_CMD)
        return 1


if __name__ == "__main__":  # pragma: no cover - run through the per-server wrapper
    sys.exit(main(sys.argv[2:], sys.argv[1]))
