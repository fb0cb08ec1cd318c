"""Fake ``npu-smi``: ``info`` (the table), ``info -l``, ``info -m``, ``info -t spod-info``.

Column widths are the real tool's (see tests/data/npu_smi_info_*.txt); A3 cards show two
chip rows (``Chip  Phy-ID``) and the second chip's power as ``-``.
"""

from __future__ import annotations

import ccsim
from ccsim import out

WIDTH = 98
SEP = "+" + "-" * 27 + "+" + "-" * 15 + "+" + "-" * 52 + "+"
DOUBLE = "+" + "=" * 27 + "+" + "=" * 15 + "+" + "=" * 52 + "+"
FULL = "+" + "-" * (WIDTH - 2) + "+"
USAGE = "Usage: npu-smi info [-l | -m | -t spod-info -i <card_id> -c <chip_id>]\n"


def _cards(state: dict) -> dict[int, list[dict]]:
    cards: dict[int, list[dict]] = {}
    for dev in sorted(state["devices"].values(), key=lambda d: (d["card_id"], d["chip_id"])):
        cards.setdefault(dev["card_id"], []).append(dev)
    return cards


def _rows(state: dict, card: int, dev: dict) -> list[str]:
    power = "-" if dev["power_w"] is None else f"{dev['power_w']:.1f}"
    chip = f"{dev['chip_id']:<6}{dev['device_id']:<20}" if state["product"] == "A3" else f"{dev['chip_id']:<26}"
    return [
        f"| {card:<6}{state['npu_name']:<20}| {dev['health']:<14}| {power:<12}{dev['temp_c']:<18}{0:<5}/ {0:<14}|",
        f"| {chip}| {dev['bus_id']:<14}| {0:<12}{0:<5}/ {0:<11}{dev['hbm_used_mb']:<5}/ {dev['hbm_total_mb']:<14}|",
    ]


def _processes(cards: dict[int, list[dict]]) -> list[str]:
    lines = [
        SEP,
        f"| {'NPU     Chip':<26}| {'Process id':<14}| {'Process name':<25}| {'Process memory(MB)':<24}|",
        DOUBLE,
    ]
    for card, chips in cards.items():
        procs = [(dev, p) for dev in chips for p in dev["processes"]]
        if not procs:
            lines += [f"| {f'No running processes found in NPU {card}':<95}|", DOUBLE]
        for dev, proc in procs:
            lines += [
                f"| {card:<8}{dev['chip_id']:<18}| {proc['pid']:<14}| {proc['name']:<25}| {proc['memory_mb']:<24}|",
                DOUBLE,
            ]
    return lines


def table(state: dict) -> str:
    version = state["driver"]
    chip_head = "Chip  Phy-ID" if state["product"] == "A3" else "Chip"
    lines = [
        FULL,
        f"| {'npu-smi ' + version:<33}{'Version: ' + version:<62}|",
        SEP,
        "| NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|",
        f"| {chip_head:<26}| Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |",
        DOUBLE,
    ]
    cards = _cards(state)
    for card, chips in cards.items():
        for i, dev in enumerate(chips):
            lines += _rows(state, card, dev)
            lines.append(DOUBLE if i == len(chips) - 1 else FULL)
    return "\n".join(lines + _processes(cards)) + "\n"


def count_list(state: dict) -> str:
    cards = _cards(state)
    text = f"        {'Total Count':<31}: {len(cards)}\n\n"
    for card, chips in cards.items():
        text += f"        {'NPU ID':<31}: {card}\n        {'Chip Count':<31}: {len(chips)}\n\n"
    return text


def logic_map(state: dict) -> str:
    a3 = state["product"] == "A3"
    name = state["npu_name"] if a3 else f"Ascend {state['npu_name']}"
    rows: list[tuple[object, object, object, object]] = [("NPU ID", "Chip ID", "Chip Logic ID", "Chip Name")]
    for card, chips in _cards(state).items():
        rows += [(card, d["chip_id"], d["logic_id"], name) for d in chips]
        rows.append((card, len(chips), "-", "Mcu"))
    return "".join(f"\t{a!s:<31}{b!s:<31}{c!s:<31}{d}\n" for a, b, c, d in rows)


def spod_info(state: dict, args: list[str]) -> str | None:
    opts = dict(zip(args[::2], args[1::2], strict=False))  # a trailing lone flag is ignored
    card, chip = opts.get("-i", ""), opts.get("-c", "")
    for dev in state["devices"].values():
        if str(dev["card_id"]) == card and str(dev["chip_id"]) == chip:
            sdid = dev["super_device_id"]
            return (
                f"        {'SDID':<31}: {'NA' if sdid is None else sdid}\n"
                f"        {'Super Pod ID':<31}: {state['super_pod_id'] or 'NA'}\n"
            )
    return None


def main(argv: list[str], state_path: str) -> int:
    state = ccsim.load(state_path)
    if argv == ["info"]:
        out(table(state))
    elif argv == ["info", "-l"]:
        out(count_list(state))
    elif argv == ["info", "-m"]:
        out(logic_map(state))
    elif argv[:3] == ["info", "-t", "spod-info"] and (text := spod_info(state, argv[3:])):
        out(text)
    else:
        out(USAGE)
        return 1
    return 0
