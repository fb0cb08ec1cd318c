"""RankTableFile (HCCL's ``RANK_TABLE_FILE``), versions "1.0" and "1.2": the model, text in, text out.

On disk every number is a JSON string (``"rank_id": "0"``; MindIE reads ``server_count`` with
``get<std::string>()`` then ``stoi``); in memory they are ints. JSON integers (what mindspore's
``merge_hccl.py`` writes) load too, and the table remembers where they were so ``validate`` can
warn. Saving always writes the canonical string form.

Unknown fields are kept (``extra="allow"``) and written back exactly. Keys are written in a
canonical order: the known scalar fields in HCCL's documented order, then unknown fields in the
order they were read, then the lists (``device``, ``server_list``, ``super_pod_list``), so the
long lists come last and a file edited by the console diffs cleanly against its next save.

Text in and out (:func:`loads`, :func:`dumps`) is in ``text.py``; files are in
``console.ops.ranktable_files``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    WithJsonSchema,
)

SUPPORTED_VERSIONS = ("1.0", "1.2")
_INT_TEXT = re.compile(r"-?[0-9]+\Z")


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT_TEXT.match(value):
        return int(value)
    raise ValueError(f'expected an integer written as a string, like "0"; got {json.dumps(value)}')


def _to_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value
    raise ValueError(f"expected a string; got {json.dumps(value)}")


IntStr = Annotated[
    int,
    BeforeValidator(_to_int),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]+$"}),
]
"""An integer that is a decimal string on disk and an int in memory."""

IdStr = Annotated[str, BeforeValidator(_to_id), WithJsonSchema({"type": "string"})]
"""A string identifier; a JSON integer is accepted and written back as a string."""


class _Node(BaseModel):
    """Base: unknown fields allowed and kept."""

    model_config = ConfigDict(extra="allow")


class RankDevice(_Node):
    """One device (one rank): an A2 NPU, or one die of an A3 card."""

    device_id: IntStr = Field(description="Physical device id (ls /dev/davinci*), [0, 63]")
    device_ip: str | None = Field(None, description="RoCE NIC IP (hccn_tool -i N -ip -g); needed with >1 server")
    device_port: IntStr | None = Field(None, description="Device port, [1, 65535]")
    host_port: IntStr | None = Field(None, description="Host port, unique per server, [1, 65535]")
    backup_device_ip: str | None = Field(None, description="1.2: NIC of the other die (op retry)")
    backup_device_port: IntStr | None = Field(None, description="1.2: port of the backup NIC")
    super_device_id: IntStr | None = Field(None, description="1.2: SDID from npu-smi spod-info")
    rank_id: IntStr = Field(description="Global rank, 0..N-1, sequential by server then device")


class RankServer(_Node):
    """One server and its devices."""

    server_id: str = Field(description="Server IP (MindIE/ATB-Models need an IP; HCCL accepts a name), <= 64 chars")
    host_ip: str | None = Field(None, description="Host IP, used by HCCL op retry")
    container_ip: str | None = Field(None, description="MindIE Service: pod/container IP (default: server_id)")
    host_nic_ip: str | None = Field(None, description='Written by mindspore hccl_tools.py as "reserve"')
    hardware_type: str | None = Field(None, description='MindCluster, e.g. "800I-A2-32G"')
    device: list[RankDevice] = Field(description="The server's devices, one rank each")


class SuperPodServer(_Node):
    server_id: str


class SuperPod(_Node):
    """1.2: one (logical) SuperPoD and the servers in it."""

    super_pod_id: IdStr = Field(description="Physical SuperPoD id (npu-smi spod-info) or any unique string")
    server_list: list[SuperPodServer]


class RankTable(_Node):
    """A whole RankTableFile, version 1.0 or 1.2."""

    status: str | None = Field(None, description='"completed" (usable) or "initializing" (not yet)')
    version: str | None = Field(None, description='"1.0", or "1.2" for A3 SuperPoD mode')
    server_count: IntStr | None = Field(None, description="len(server_list); required in 1.0")
    server_list: list[RankServer]
    super_pod_list: list[SuperPod] | None = Field(None, description="1.2: every server in exactly one SuperPoD")

    _json_numbers: tuple[str, ...] = PrivateAttr(default=())

    def __eq__(self, other: object) -> bool:
        """Equal content; where numbers came from (string or JSON number) does not count."""
        if not isinstance(other, RankTable):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]  # equal by content, mutable: unhashable on purpose

    @property
    def json_numbers(self) -> tuple[str, ...]:
        """JSON paths of number fields that the loaded text held as JSON numbers, not strings."""
        return self._json_numbers

    @property
    def world_size(self) -> int:
        return sum(len(s.device) for s in self.server_list)

    def devices(self) -> Iterator[tuple[int, int, RankServer, RankDevice]]:
        """(server index, device index, server, device) in file order."""
        for i, server in enumerate(self.server_list):
            for j, dev in enumerate(server.device):
                yield i, j, server, dev

    def super_pod_of(self, server_id: str) -> str | None:
        for pod in self.super_pod_list or ():
            if any(s.server_id == server_id for s in pod.server_list):
                return pod.super_pod_id
        return None
