"""What discovery knows about a cluster: servers, their NPU devices, and findings.

This is the contract between discovery (which fills it), the rank-table planner and the
ping planner (which read it), the CLI's ``--json`` output and the Nodes pane.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from console.core.diagnostic import FindingField
from console.core.parsers.ip_addr import HostAddress


class CommandFailure(BaseModel):
    """A remote command that did not give a usable answer: always with its exact text."""

    command: str
    exit_status: int | None = None
    output: str = Field("", description="Raw stdout+stderr, exactly as the server printed it")
    message: str = Field("", description="What went wrong, in one line")


class Device(BaseModel):
    """One NPU device (an A2 chip, or one die of an A3 card): one rank in a rank table."""

    device_id: int = Field(description="Physical id: `hccn_tool -i N`, rank-table device_id")
    card: int | None = Field(None, description="NPU ID in npu-smi (the card)")
    chip: int | None = Field(None, description="Chip ID on the card (A3: 0 or 1)")
    logic_id: int | None = Field(None, description="Chip Logic ID (what torch uses)")
    device_ip: str | None = None
    netmask: str | None = None
    ip_source: Literal["hccn_tool", "vnic", "hccn.conf"] | None = None
    conf_ip: str | None = Field(None, description="address_N in /etc/hccn.conf, when present")
    link: str | None = Field(None, description="UP / DOWN from `-link -g`")
    net_health: str | None = Field(None, description="`-net_health -g` text, e.g. Success")
    tls: int | None = Field(None, description="TLS switch: 0 disabled, 1 enabled")
    gateway: str | None = None
    netdetect: str | None = None
    health: str | None = Field(None, description="npu-smi health: OK, Warning, Alarm, ...")
    busy_pids: list[int] = Field(default_factory=list, description="Processes on this NPU")
    super_device_id: int | None = None
    lldp_switch: str | None = Field(
        None,
        description="The switch this NIC is cabled to, from `-lldp -g`: its System Name (else its Chassis ID); "
        "none when LLDP is off or did not answer",
    )
    lldp_port: str | None = Field(None, description="The switch port, from `-lldp -g` (Port ID, e.g. 400GE1/1/20:2)")
    failures: list[CommandFailure] = Field(default_factory=list)


class Server(BaseModel):
    """One server as discovery saw it."""

    host: str = Field(description="The SSH target as the user wrote it")
    server_id: str | None = Field(None, description="IP address the console reached")
    hostname: str | None = None
    reachable: bool = False
    error: str | None = Field(None, description="Why the server could not be queried")
    product: Literal["A2", "A3"] | None = None
    chips_per_card: int | None = None
    driver_version: str | None = None
    cann_version: str | None = None
    super_pod_id: str | None = None
    host_ip: str | None = Field(
        None,
        description="The host IPv4 address the other servers reach: server_id when an interface holds it ({host_ip})",
    )
    host_nic: str | None = Field(
        None,
        description="The NIC holding host_ip, from `ip -o -4 addr show` "
        "({host_nic}; HCCL_SOCKET_IFNAME, GLOO_SOCKET_IFNAME, TP_SOCKET_IFNAME)",
    )
    host_addresses: list[HostAddress] = Field(default_factory=list, description="Every IPv4 address and its NIC")
    devices: list[Device] = Field(default_factory=list)
    failures: list[CommandFailure] = Field(default_factory=list)
    lldp_note: str | None = Field(
        None,
        description="Why `hccn_tool -lldp -g` gave no switch here: it timed out or printed what the "
        "console does not understand (None: it answered, or said nothing as where LLDP is off)",
    )

    def device(self, device_id: int) -> Device | None:
        return next((d for d in self.devices if d.device_id == device_id), None)


class Inventory(BaseModel):
    servers: list[Server] = Field(default_factory=list)
    findings: list[FindingField] = Field(default_factory=list)

    def server(self, host: str) -> Server | None:
        return next((s for s in self.servers if s.host == host or s.server_id == host), None)

    def switch_of(self) -> dict[str, str]:
        """Host -> the switch it is grouped under (hosts without an LLDP answer left out).

        The key is the switch of the server's first device (card 0). In a rail-optimised
        fabric card k of every server of a pod is cabled to leaf k, so card 0's leaf names the
        pod (a majority of cards would be a tie of 8 leaves); under a top-of-rack switch (pair)
        card 0's switch is that rack's. A server whose first device gave no answer joins the
        group of the servers whose same device reaches the same switch (card 3 on leaf 3 of
        pod 2: pod 2's group), else it is keyed by its first answering device's switch."""
        keyed: dict[str, str] = {}
        by_device: dict[tuple[int, str], str] = {}
        rest: list[Server] = []
        for s in self.servers:
            if not s.devices:
                continue
            first = min(s.devices, key=lambda d: d.device_id)
            if not first.lldp_switch:
                rest.append(s)
                continue
            keyed[s.host] = first.lldp_switch
            for d in s.devices:
                if d.lldp_switch:
                    by_device.setdefault((d.device_id, d.lldp_switch), first.lldp_switch)
        for s in rest:
            answered = sorted((d.device_id, d.lldp_switch) for d in s.devices if d.lldp_switch)
            if answered:
                keyed[s.host] = next((by_device[a] for a in answered if a in by_device), answered[0][1])
        return keyed
