"""Tool output -> pydantic models (pure: text in, models out, no I/O).

Every ``parse_*`` function returns its model, a ``ToolError`` when the text is one of
hccn_tool's error messages, or ``Unparsed`` (with the raw text and a reason) when it does not
understand the output. None of them ever raises, whatever the input.
"""

from __future__ import annotations

from .common import Unparsed
from .hccn_conf import HccnConf, HccnDeviceConf, parse_hccn_conf
from .hccn_net import (
    GatewayInfo,
    IpConfig,
    NetdetectInfo,
    VnicConfig,
    parse_gateway,
    parse_ip,
    parse_ip_loop,
    parse_netdetect,
    parse_vnic,
)
from .hccn_status import (
    NET_HEALTH_CODES,
    LinkChange,
    LinkStat,
    LinkStatus,
    NetHealth,
    TlsDevice,
    TlsReport,
    parse_link,
    parse_link_stat,
    parse_net_health,
    parse_tls,
)
from .hccs_ping import HccsPacket, HccsPingReport, parse_hccs_ping
from .lldp import LldpInfo, parse_lldp
from .npu_smi import (
    ChipMapRow,
    NpuCard,
    NpuChipMap,
    NpuList,
    SpodInfo,
    parse_npu_chip_map,
    parse_npu_list,
    parse_spod_info,
)
from .npu_smi_table import NpuChip, NpuProcess, NpuSmiInfo, parse_npu_smi_info
from .ping import PingReply, PingReport, PingStatus, parse_ping
from .tool_errors import ToolError, ToolErrorKind, error_kind, find_tool_error, parse_tool_error

__all__ = [
    "NET_HEALTH_CODES",
    "ChipMapRow",
    "GatewayInfo",
    "HccnConf",
    "HccnDeviceConf",
    "HccsPacket",
    "HccsPingReport",
    "IpConfig",
    "LinkChange",
    "LinkStat",
    "LinkStatus",
    "LldpInfo",
    "NetHealth",
    "NetdetectInfo",
    "NpuCard",
    "NpuChip",
    "NpuChipMap",
    "NpuList",
    "NpuProcess",
    "NpuSmiInfo",
    "PingReply",
    "PingReport",
    "PingStatus",
    "SpodInfo",
    "TlsDevice",
    "TlsReport",
    "ToolError",
    "ToolErrorKind",
    "Unparsed",
    "VnicConfig",
    "error_kind",
    "find_tool_error",
    "parse_gateway",
    "parse_hccn_conf",
    "parse_hccs_ping",
    "parse_ip",
    "parse_ip_loop",
    "parse_link",
    "parse_link_stat",
    "parse_lldp",
    "parse_net_health",
    "parse_netdetect",
    "parse_npu_chip_map",
    "parse_npu_list",
    "parse_npu_smi_info",
    "parse_ping",
    "parse_spod_info",
    "parse_tls",
    "parse_tool_error",
    "parse_vnic",
]
