"""``npu-smi info -l`` (cards and chip counts) and ``npu-smi info -m`` (card/chip/logic-id map)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from .common import Unparsed, guarded, lines_of, nonblank, to_int

_KV_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 ()_-]*?)\s*:\s*(.*?)\s*$")
_MAP_COLUMN_RE = re.compile(r"NPU ID|Chip Logic ID|Chip Phy-ID|Chip ID|Chip Name", re.IGNORECASE)


class NpuCard(BaseModel):
    npu_id: int
    chip_count: int | None = None
    extra: dict[str, str] = {}  # other fields of the card block (e.g. Product Name)


class NpuList(BaseModel):
    """``npu-smi info -l``."""

    kind: Literal["npu_list"] = "npu_list"
    total_count: int | None = None
    cards: list[NpuCard] = []

    @property
    def chips_per_card(self) -> int | None:
        """The common chip count (A2: 1, A3: 2), or None when cards disagree or none is known."""
        counts = {c.chip_count for c in self.cards if c.chip_count is not None}
        return counts.pop() if len(counts) == 1 else None


class ChipMapRow(BaseModel):
    npu_id: int
    chip_id: int
    logic_id: int  # Chip Logic ID: what torch / ASCEND_RT_VISIBLE_DEVICES use
    phy_id: int | None = None  # Chip Phy-ID column (newer drivers)
    name: str  # e.g. "Ascend 910B3"


class NpuChipMap(BaseModel):
    """``npu-smi info -m``; rows with logic id ``-`` (the Mcu) are not devices and skipped."""

    kind: Literal["npu_chip_map"] = "npu_chip_map"
    chips: list[ChipMapRow] = []


def _list_fields(text: str) -> NpuList | None:
    result = NpuList()
    card: NpuCard | None = None
    seen = False
    for line in lines_of(text):
        m = _KV_RE.match(line)
        if not m:
            continue
        key, value = m[1].strip().lower(), m[2]
        if key in ("total count", "card count"):
            result.total_count, seen = to_int(value), True
        elif key == "npu id" and (npu := to_int(value)) is not None:
            card = NpuCard(npu_id=npu)
            result.cards.append(card)
            seen = True
        elif key == "chip count" and card is not None:
            card.chip_count = to_int(value)
        elif card is not None:
            card.extra[m[1].strip()] = value
    return result if seen else None


@guarded()
def parse_npu_list(text: str) -> NpuList | Unparsed:
    """``npu-smi info -l``: ``Total Count`` and per ``NPU ID`` its ``Chip Count``."""
    if not text.strip():
        return Unparsed(raw=text, reason="empty output")
    return _list_fields(text) or Unparsed(raw=text, reason="no 'Total Count' or 'NPU ID' field")


def _header_columns(line: str) -> list[str] | None:
    cols = [c.lower() for c in _MAP_COLUMN_RE.findall(line)]
    ok = cols[:1] == ["npu id"] and "chip logic id" in cols and cols[-1] == "chip name"
    return cols if ok else None


def _map_row(cols: list[str], line: str) -> ChipMapRow | None:
    """Ids are single tokens; the last column (Chip Name) takes the rest of the line."""
    tokens = line.split()
    if len(tokens) < len(cols):
        return None
    row = dict(zip(cols[:-1], tokens[: len(cols) - 1], strict=True))
    npu, chip, logic = to_int(row.get("npu id")), to_int(row.get("chip id")), to_int(row.get("chip logic id"))
    if npu is None or chip is None or logic is None:
        return None
    phy = to_int(row["chip phy-id"]) if "chip phy-id" in row else None
    name = " ".join(tokens[len(cols) - 1 :])
    return ChipMapRow(npu_id=npu, chip_id=chip, logic_id=logic, phy_id=phy, name=name)


@guarded()
def parse_npu_chip_map(text: str) -> NpuChipMap | Unparsed:
    """``npu-smi info -m``: the columns come from the header (``Chip Phy-ID`` is optional);
    ids are single tokens and the last column, Chip Name, may contain spaces."""
    lines = nonblank(text)
    if not lines:
        return Unparsed(raw=text, reason="empty output")
    cols: list[str] | None = None
    result = NpuChipMap()
    for line in lines:
        if cols is None:
            cols = _header_columns(line)
            continue
        if row := _map_row(cols, line):
            result.chips.append(row)
    if cols is None:
        return Unparsed(raw=text, reason="no 'NPU ID ... Chip Logic ID' header line")
    return result


class SpodInfo(BaseModel):
    """``npu-smi info -t spod-info -i CARD -c CHIP`` (A3 SuperPoD): what rank table 1.2 needs."""

    kind: Literal["spod_info"] = "spod_info"
    sdid: int | None = None  # super_device_id; None when the tool prints NA
    super_pod_id: str | None = None


_SPOD_RE = re.compile(r"(SDID|Super Pod ID)\s*:\s*([^\s|]+)", re.IGNORECASE)


@guarded()
def parse_spod_info(text: str) -> SpodInfo | Unparsed:
    """``SDID : 98369551`` / ``Super Pod ID : 3`` lines, or the table form
    ``| Super Pod ID : 3 | Pod ID : 1 |``; ``NA`` means not set."""
    found = {m[1].lower(): m[2] for m in _SPOD_RE.finditer(text)}
    if not found:
        return Unparsed(raw=text, reason="no 'SDID' or 'Super Pod ID' field")
    pod = found.get("super pod id")
    return SpodInfo(sdid=to_int(found.get("sdid")), super_pod_id=None if pod is None or pod.upper() == "NA" else pod)
