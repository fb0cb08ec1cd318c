"""The ``npu-smi info`` table (A2 and A3 layouts) and the process table after it."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from .common import Unparsed, guarded, lines_of, to_float, to_int

_BUS_ID_RE = re.compile(r"^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f]$")
_PAIR_RE = re.compile(r"([0-9]+|-|NA)\s*/\s*([0-9]+|-|NA)")
_VERSION_RE = re.compile(r"Version\s*:\s*(\S+)", re.IGNORECASE)
_IDLE_RE = re.compile(r"No running processes found in NPU\s+([0-9]+)", re.IGNORECASE)


class NpuChip(BaseModel):
    """One chip (A2: the card's only chip; A3: one of two dies) from its two table rows."""

    npu_id: int
    chip_id: int | None = None
    phy_id: int | None = None  # A3 "Chip Phy-ID" column; what hccn_tool -i takes
    name: str = ""
    health: str = ""  # OK, Warning, Alarm, Critical, UNKNOWN
    bus_id: str | None = None
    power_w: float | None = None  # "-" on the second A3 die
    temp_c: float | None = None
    aicore_pct: float | None = None
    memory_used_mb: int | None = None
    memory_total_mb: int | None = None
    hbm_used_mb: int | None = None
    hbm_total_mb: int | None = None
    hugepages_used: int | None = None
    hugepages_total: int | None = None


class NpuProcess(BaseModel):
    npu_id: int
    chip_id: int | None = None
    pid: int
    name: str
    memory_mb: int | None = None


class NpuSmiInfo(BaseModel):
    """``npu-smi info``: chips in table order, then the processes using them."""

    kind: Literal["npu_smi_info"] = "npu_smi_info"
    version: str | None = None
    layout: Literal["A2", "A3"] | None = None  # A3 = header has the "Chip Phy-ID" column
    chips: list[NpuChip] = []
    processes: list[NpuProcess] = []
    idle_npus: list[int] = []  # "No running processes found in NPU N"
    process_table: bool = False  # False when the output had no process table at all

    def chip(self, npu_id: int, chip_id: int = 0) -> NpuChip | None:
        return next((c for c in self.chips if c.npu_id == npu_id and c.chip_id == chip_id), None)

    def processes_on(self, npu_id: int, chip_id: int | None = None) -> list[NpuProcess]:
        return [p for p in self.processes if p.npu_id == npu_id and (chip_id is None or p.chip_id == chip_id)]


def _cells(line: str) -> list[str] | None:
    line = line.strip()
    if not (line.startswith("|") and line.endswith("|") and len(line) > 1):
        return None
    return [cell.strip() for cell in line[1:-1].split("|")]


def _pairs(cell: str) -> tuple[list[str], list[tuple[int | None, int | None]]]:
    """Leading tokens before the first ``a / b``, and every ``a / b`` pair as ints."""
    first = _PAIR_RE.search(cell)
    lead = (cell[: first.start()] if first else cell).split()
    return lead, [(to_int(a), to_int(b)) for a, b in _PAIR_RE.findall(cell)]


def _first_row(cells: list[str]) -> NpuChip | None:
    tokens = cells[0].split()
    npu = to_int(tokens[0]) if tokens else None
    if npu is None or len(tokens) < 2 or _BUS_ID_RE.match(cells[1]):
        return None
    chip = NpuChip(npu_id=npu, name=" ".join(tokens[1:]), health=cells[1])
    lead, pairs = _pairs(cells[2]) if len(cells) > 2 else ([], [])
    chip.power_w = to_float(lead[0]) if lead else None
    chip.temp_c = to_float(lead[1]) if len(lead) > 1 else None
    if pairs:
        chip.hugepages_used, chip.hugepages_total = pairs[0]
    return chip


def _second_row(chip: NpuChip, cells: list[str]) -> None:
    tokens = cells[0].split()
    chip.chip_id = to_int(tokens[0]) if tokens else None
    chip.phy_id = to_int(tokens[1]) if len(tokens) > 1 else None
    chip.bus_id = cells[1]
    lead, pairs = _pairs(cells[2]) if len(cells) > 2 else ([], [])
    chip.aicore_pct = to_float(lead[0]) if lead else None
    if len(pairs) >= 2:
        (chip.memory_used_mb, chip.memory_total_mb), (chip.hbm_used_mb, chip.hbm_total_mb) = pairs[:2]
    elif pairs:
        chip.hbm_used_mb, chip.hbm_total_mb = pairs[0]


def _process_row(info: NpuSmiInfo, cells: list[str]) -> None:
    if m := _IDLE_RE.search(" ".join(cells)):
        if (npu := to_int(m[1])) is not None:
            info.idle_npus.append(npu)
        return
    if len(cells) < 3:
        return
    ids = cells[0].split()
    npu, pid = (to_int(ids[0]) if ids else None), to_int(cells[1])
    if npu is None or pid is None:
        return
    info.processes.append(
        NpuProcess(
            npu_id=npu,
            chip_id=to_int(ids[1]) if len(ids) > 1 else None,
            pid=pid,
            name=cells[2],
            memory_mb=to_int(cells[3].split()[0]) if len(cells) > 3 and cells[3].split() else None,
        )
    )


def _chip_table_row(info: NpuSmiInfo, cells: list[str], pending: NpuChip | None) -> NpuChip | None:
    """Feed one chip-section row; returns the chip still waiting for its second row."""
    if "Phy-ID" in cells[0] and cells[0].startswith("Chip"):
        info.layout = "A3"
    elif cells[0].startswith("Chip") and info.layout is None:
        info.layout = "A2"
    if len(cells) >= 2 and _BUS_ID_RE.match(cells[1]) and pending is not None:
        _second_row(pending, cells)
        return None
    if len(cells) >= 2 and (chip := _first_row(cells)) is not None:
        info.chips.append(chip)
        return chip
    return pending


def _scan(text: str) -> NpuSmiInfo:
    info = NpuSmiInfo()
    pending: NpuChip | None = None
    for line in lines_of(text):
        cells = _cells(line)
        if cells is None:
            continue
        joined = " ".join(cells)
        if info.version is None and "npu-smi" in joined.lower() and (m := _VERSION_RE.search(joined)):
            info.version = m[1]
        elif any(c.lower().startswith("process id") for c in cells):
            info.process_table, pending = True, None
        elif info.process_table:
            _process_row(info, cells)
        else:
            pending = _chip_table_row(info, cells, pending)
    return info


@guarded()
def parse_npu_smi_info(text: str) -> NpuSmiInfo | Unparsed:
    """``npu-smi info`` -> chips (npu id, chip id, A3 phy id, name, health, bus id, HBM...)
    and the process table (pid, name, memory per NPU/chip; idle NPUs)."""
    if not text.strip():
        return Unparsed(raw=text, reason="empty output")
    info = _scan(text)
    if not info.chips and not info.process_table:
        return Unparsed(raw=text, reason="no npu-smi chip rows or process table")
    return info
