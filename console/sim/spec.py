"""Cluster spec of a simulated Ascend cluster: servers, devices, health, faults.

Loadable from TOML (``ClusterSpec.from_toml`` / ``load``: either ``[[servers]]`` tables or a
``[generate]`` table with the arguments of ``ClusterSpec.generate``) and from flags
(``ClusterSpec.generate(servers=64)``). The default spec, the MindIE guide's 2 x 8 A2 cluster
with one lossy card pair, is ``default.toml`` beside this file (``ClusterSpec.default()``).
"""

from __future__ import annotations

import ipaddress
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from console.core.errors import InputError, describe_validation_error
from console.core.inventory import Device, Inventory, Server
from console.sim import generate as gen
from console.sim.faults import STATIC_KINDS, Fault, ServerRef

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NpuProcess(_Model):
    """A process holding an NPU (the `npu-smi info` process table)."""

    pid: int
    name: str = "python3"
    memory_mb: int = 60156


class DeviceSpec(_Model):
    """One NPU device: an A2 chip, or one die of an A3 card."""

    device_id: int = Field(ge=0, le=15, description="Physical id (`hccn_tool -i N`)")
    card_id: int = Field(ge=0, description="NPU ID in npu-smi")
    chip_id: int = Field(0, ge=0, le=1, description="Chip ID on the card")
    logic_id: int = Field(ge=0, description="Chip Logic ID (torch's device index)")
    ip: str | None = Field(None, description="RoCE IPv4 (`-ip -g`); none = not preset")
    netmask: str = "255.255.255.0"
    ipv6: str | None = Field(None, description="RoCE IPv6 (`-ip -inet6 -g`)")
    prefix_length: int = 64
    vnic_ip: str | None = Field(None, description="A3 vNIC address (`-vnic -g`)")
    vnic_netmask: str = "255.255.0.0"
    vnic_link: Literal["UP", "DOWN"] = "UP"
    link: Literal["UP", "DOWN"] = "UP"
    net_health: str = "Success"
    tls: int = Field(0, ge=0, le=1, description="TLS switch")
    tls_preconfigured: int | None = Field(1, description="None = old firmware wording")
    health: str = Field("OK", description="npu-smi health: OK, Warning, Alarm, Critical, UNKNOWN")
    processes: list[NpuProcess] = Field(default_factory=list, description="Busy pids")
    gateway: str | None = None
    netdetect: str | None = None
    conf_address: str | None = Field(None, description="hccn.conf address if not `ip`")
    conf_omit: bool = Field(False, description="Leave this device out of hccn.conf")
    super_device_id: int | None = None
    lldp_port: str = Field("400GE1/1/1:1", description="Switch port in `-lldp -g` (Port ID Ifname)")
    lldp_switch: str | None = Field(
        "leaf-sw-01", description="Switch System Name in `-lldp -g`; none = LLDP off (the tool prints nothing)"
    )
    link_up_count: int = Field(1, ge=1)
    bus_id: str = "0000:C1:00.0"
    power_w: float | None = 88.4
    temp_c: int = 46
    hbm_used_mb: int = 4175
    hbm_total_mb: int = 65536

    @field_validator("ip", "ipv6", "vnic_ip", "gateway", "netdetect", "conf_address", "lldp_switch", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("ip", "vnic_ip", "gateway", "netdetect", "conf_address", "netmask")
    @classmethod
    def _ipv4(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.IPv4Address(value)
        return value

    @field_validator("ipv6")
    @classmethod
    def _ipv6(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.IPv6Address(value)
        return value


class ServerSpec(_Model):
    """One simulated server (its own loopback address, host key and root folder)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="Host name")
    address: str = Field(description="Loopback address the SSH server listens on")
    product: Literal["A2", "A3"] = "A2"
    driver_version: str = gen.DEFAULT_DRIVER
    cann_version: str = gen.DEFAULT_CANN
    super_pod_id: str | None = None
    npu_name: str | None = Field(None, description="npu-smi Name (910B3 on A2, Ascend910 on A3)")
    host_nic: str = Field(
        "eth0",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$",
        description="NIC holding the server's address (`ip -o -4 addr show`)",
    )
    devices: list[DeviceSpec]

    @field_validator("address")
    @classmethod
    def _loopback(cls, value: str) -> str:
        if ipaddress.IPv4Address(value) not in LOOPBACK:
            raise ValueError(f"{value} is not a loopback address (127.0.0.0/8)")
        return value

    @model_validator(mode="after")
    def _check(self) -> ServerSpec:
        if self.npu_name is None:
            self.npu_name = "910B3" if self.product == "A2" else "Ascend910"
        ids = [d.device_id for d in self.devices]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.name}: duplicate device_id in {ids}")
        limit = gen.MAX_DEVICES[self.product]
        if any(i >= limit for i in ids):
            raise ValueError(f"{self.name}: device ids on {self.product} are 0..{limit - 1}")
        return self

    def device(self, device_id: int) -> DeviceSpec:
        for dev in self.devices:
            if dev.device_id == device_id:
                return dev
        raise ValueError(f"server {self.name} has no device {device_id}")

    @property
    def cards(self) -> list[int]:
        return sorted({d.card_id for d in self.devices})


class ClusterSpec(_Model):
    """A whole simulated cluster: servers, shared tool behaviour, and faults."""

    name: str = "sim"
    port: int = Field(2222, ge=0, le=65535, description="SSH port every server listens on")
    user: str | None = Field(None, description="User written to ssh_config (default: you)")
    ping_probe_s: float = Field(0.0, ge=0, description="Seconds each ping probe takes")
    ping_times_ms: list[float] = Field([0.067, 0.049, 0.047], min_length=3, max_length=3)
    hccs_times_us: list[float] = Field([12.345, 11.020, 11.870], min_length=3, max_length=3)
    ok_ping_typo: bool = Field(False, description="Print `time-` on seq 1 like the guide")
    servers: list[ServerSpec] = Field(min_length=1)
    faults: list[Fault] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _fill_devices(cls, data: Any) -> Any:
        """Servers given without devices get the generated ones (``cards = N``)."""
        if not isinstance(data, dict) or not isinstance(data.get("servers"), list):
            return data
        servers = data["servers"]
        filled = []
        for i, srv in enumerate(servers):
            if isinstance(srv, dict) and "devices" not in srv:
                srv = dict(srv)
                cards = srv.pop("cards", 8)
                srv["devices"] = gen.devices(srv.get("product", "A2"), i, len(servers), cards)
            filled.append(srv)
        return {**data, "servers": filled}

    @model_validator(mode="after")
    def _check(self) -> ClusterSpec:
        for attr in ("name", "address"):
            seen = [getattr(s, attr) for s in self.servers]
            dups = sorted({v for v in seen if seen.count(v) > 1})
            if dups:
                raise ValueError(f"duplicate server {attr}: {', '.join(dups)}")
        owners: dict[str, str] = {}
        for srv in self.servers:
            for dev in srv.devices:
                for ip in (dev.ip, dev.ipv6, dev.vnic_ip):
                    if ip is None:
                        continue
                    here = f"{srv.name} device {dev.device_id}"
                    if ip in owners and owners[ip] != here:
                        raise ValueError(f"device IP {ip} used twice: {owners[ip]} and {here}")
                    owners[ip] = here
        for fault in self.faults:
            self._resolve_fault(fault)
        return self

    def _resolve_fault(self, fault: Any) -> None:
        """Check a fault's server/device references; fold it in when it is static."""
        if fault.kind == "serve_crash":
            return  # the whole service
        srv = self.server(fault.src if fault.kind == "loss" else fault.server)
        for attr in ("device", "src_device"):
            if getattr(fault, attr, None) is not None:
                srv.device(getattr(fault, attr))
        if fault.kind == "loss":
            dst = self.server(fault.dst)
            if fault.dst_device is not None:
                dst.device(fault.dst_device)
        if fault.kind in STATIC_KINDS:
            _apply_static(srv, fault)

    def server(self, ref: ServerRef | None) -> ServerSpec:
        """A server by 1-based index, name or address."""
        if isinstance(ref, int) and not isinstance(ref, bool):
            if 1 <= ref <= len(self.servers):
                return self.servers[ref - 1]
        else:
            for srv in self.servers:
                if ref in (srv.name, srv.address):
                    return srv
        raise ValueError(f"no server {ref!r} (use a 1-based index, a name or an address)")

    def inventory(self, host: Literal["address", "name"] = "address") -> Inventory:
        """What discovery finds on this cluster (from the spec), for tests and benchmarks
        that need a rank table or a ping plan without running discovery first."""
        return Inventory(
            servers=[
                Server(
                    host=getattr(s, host),
                    server_id=s.address,
                    hostname=s.name,
                    reachable=True,
                    product=s.product,
                    host_ip=s.address,
                    host_nic=s.host_nic,
                    devices=[
                        Device(
                            device_id=d.device_id,
                            card=d.card_id,
                            chip=d.chip_id,
                            logic_id=d.logic_id,
                            device_ip=d.ip,
                            netmask=d.netmask,
                        )
                        for d in s.devices
                    ],
                )
                for s in self.servers
            ]
        )

    def dynamic_faults(self, kind: str) -> list[Any]:
        return [f for f in self.faults if f.kind == kind]

    @classmethod
    def generate(
        cls,
        servers: int = 2,
        cards: int = 8,
        product: str = "A2",
        base_address: str = "127.0.0.11",
        *,
        driver_version: str = gen.DEFAULT_DRIVER,
        cann_version: str = gen.DEFAULT_CANN,
        super_pod_id: str | None = None,
        faults: list[Any] | None = None,
        **options: Any,
    ) -> ClusterSpec:
        """``servers`` x ``cards`` servers on consecutive loopback addresses."""
        srvs = gen.servers(
            servers,
            cards,
            product,
            base_address,
            driver_version=driver_version,
            cann_version=cann_version,
            super_pod_id=super_pod_id,
        )
        return cls.model_validate({**options, "servers": srvs, "faults": list(faults or [])})

    @classmethod
    def from_toml(cls, text: str, source: str = "<spec>") -> ClusterSpec:
        """Parse a TOML spec; every error is an InputError naming ``source`` and the field."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError("cluster spec is not valid TOML", str(exc), path=source) from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<spec>") -> ClusterSpec:
        data = dict(data)
        generate = data.pop("generate", None)
        try:
            if generate is not None:
                if "servers" in data:
                    raise ValueError("give either [generate] or [[servers]], not both")
                if not isinstance(generate, dict):
                    raise ValueError("[generate] must be a table")
                return cls.generate(**generate, **data)
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InputError("invalid cluster spec", describe_validation_error(exc), path=source) from None
        except (TypeError, ValueError) as exc:
            raise InputError("invalid cluster spec", str(exc), path=source) from None

    @classmethod
    def load(cls, path: str | Path) -> ClusterSpec:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError("cannot read cluster spec", exc.strerror or str(exc), path=str(path)) from None
        return cls.from_toml(text, str(path))

    @classmethod
    def default(cls) -> ClusterSpec:
        """The MindIE guide's cluster: 2 servers x 8 A2 cards, one lossy pair (33.33 %)."""
        text = resources.files("console.sim").joinpath("default.toml").read_text("utf-8")
        return cls.from_toml(text, "console/sim/default.toml")


def _apply_static(srv: ServerSpec, fault: Any) -> None:
    """Fold a static fault into the server/device fields (idempotent)."""
    if fault.kind == "version":
        srv.driver_version = fault.driver or srv.driver_version
        srv.cann_version = fault.cann or srv.cann_version
        return
    targets = srv.devices if fault.device is None else [srv.device(fault.device)]
    for dev in targets:
        if fault.kind == "link_down":
            dev.link, dev.net_health = "DOWN", "Fault"
        elif fault.kind == "tls":
            dev.tls = fault.enabled
        elif fault.kind == "net_health":
            dev.net_health = fault.status
        elif fault.kind == "conf_mismatch":
            dev.conf_address, dev.conf_omit = fault.address, fault.address is None
