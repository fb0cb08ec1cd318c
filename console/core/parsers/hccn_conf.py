"""``/etc/hccn.conf``: persistent per-device NIC settings, ``key_<device>=value`` lines.

Devices may have gaps (0, 1 and 7 only is a real file). Unknown keys are kept per device;
lines that are not ``key_N=value`` are reported with their line number, never dropped silently.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from .common import Unparsed, guarded, lines_of, to_int

_LINE_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*?)_([0-9]{1,4})\s*=\s*(.*?)\s*$")
_GLOBAL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")

_KNOWN = {
    "address": "address",
    "netmask": "netmask",
    "netdetect": "netdetect",
    "gateway": "gateway",
    "tls_enable": "tls_enable",
    "send_arp_status": "send_arp_status",
    "ipv6address": "ipv6_address",
}


class HccnDeviceConf(BaseModel):
    """Settings of one physical device id (``address_N`` etc.)."""

    address: str | None = None
    netmask: str | None = None
    netdetect: str | None = None
    gateway: str | None = None
    tls_enable: int | None = None
    send_arp_status: int | None = None
    ipv6_address: str | None = Field(None, description="IPv6address_N")
    extra: dict[str, str] = Field(default_factory=dict, description="Unknown keys, verbatim")


class HccnConf(BaseModel):
    kind: Literal["hccn_conf"] = "hccn_conf"
    devices: dict[int, HccnDeviceConf] = {}
    global_keys: dict[str, str] = {}  # key=value lines without a _N suffix
    problems: list[str] = []  # "line 4: ..." for lines not understood or keys set twice


def _assign(conf: HccnConf, lineno: int, key: str, dev: int, value: str) -> None:
    device = conf.devices.setdefault(dev, HccnDeviceConf())
    field = _KNOWN.get(key.lower())
    if field is None:
        if key in device.extra:
            conf.problems.append(f"line {lineno}: {key}_{dev} set twice; the last value is used")
        device.extra[key] = value
        return
    if getattr(device, field) is not None:
        conf.problems.append(f"line {lineno}: {key}_{dev} set twice; the last value is used")
    if field in ("tls_enable", "send_arp_status"):
        number = to_int(value)
        if number is None:
            conf.problems.append(f"line {lineno}: {key}_{dev}={value!r} is not an integer")
            device.extra[key] = value
            return
        setattr(device, field, number)
    else:
        setattr(device, field, value or None)


def _read(text: str) -> tuple[HccnConf, int]:
    conf = HccnConf()
    understood = 0
    for lineno, raw in enumerate(lines_of(text), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if m := _LINE_RE.match(line):
            dev = to_int(m[2])
            if dev is not None:
                _assign(conf, lineno, m[1], dev, m[3])
                understood += 1
                continue
        if m := _GLOBAL_RE.match(line):
            conf.global_keys[m[1]] = m[2]
            understood += 1
            continue
        conf.problems.append(f"line {lineno}: not key_N=value: {line[:80]!r}")
    return conf, understood


@guarded()
def parse_hccn_conf(text: str) -> HccnConf | Unparsed:
    """``/etc/hccn.conf`` -> ``HccnConf.devices[N]`` (sorted by device id).

    An empty file gives an ``HccnConf`` with no devices; text with content but no
    ``key=value`` line at all (e.g. ``cat: /etc/hccn.conf: No such file``) is ``Unparsed``.
    """
    conf, understood = _read(text)
    if not understood and conf.problems:
        return Unparsed(raw=text, reason=f"no key_N=value line; {conf.problems[0]}")
    conf.devices = dict(sorted(conf.devices.items()))
    return conf
