"""Property tests: no public parser raises, on arbitrary text or on mutated real samples.

The parsers carry a last-resort guard that turns an internal exception into
``Unparsed(reason="internal parser error: ...")``; these tests also assert that guard is never
reached, so a bug cannot hide behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from console.core import parsers as P
from console.core.parsers.common import INTERNAL_ERROR_PREFIX

DATA = Path(__file__).parent.parent / "data"
SAMPLES = {p.name: p.read_text() for p in sorted(DATA.glob("*.txt")) if p.name != "README.md"}
SAMPLES["hccn.conf"] = (DATA / "hccn.conf").read_text()

# parser -> the types its results (or list items) may have
PARSERS: dict[Callable[..., Any], tuple[type, ...]] = {
    P.parse_ping: (P.PingReport, P.Unparsed),
    P.parse_hccs_ping: (P.HccsPingReport, P.Unparsed),
    P.parse_ip: (P.IpConfig, P.ToolError, P.Unparsed),
    P.parse_ip_loop: (P.IpConfig, P.ToolError, P.Unparsed),
    P.parse_vnic: (P.VnicConfig, P.ToolError, P.Unparsed),
    P.parse_gateway: (P.GatewayInfo, P.ToolError, P.Unparsed),
    P.parse_netdetect: (P.NetdetectInfo, P.ToolError, P.Unparsed),
    P.parse_link: (P.LinkStatus, P.ToolError, P.Unparsed),
    P.parse_net_health: (P.NetHealth, P.ToolError, P.Unparsed),
    P.parse_link_stat: (P.LinkStat, P.ToolError, P.Unparsed),
    P.parse_tls: (P.TlsReport, P.ToolError, P.Unparsed),
    P.parse_lldp: (P.LldpInfo, P.ToolError, P.Unparsed),
    P.parse_hccn_conf: (P.HccnConf, P.Unparsed),
    P.parse_npu_list: (P.NpuList, P.Unparsed),
    P.parse_spod_info: (P.SpodInfo, P.Unparsed),
    P.parse_npu_chip_map: (P.NpuChipMap, P.Unparsed),
    P.parse_npu_smi_info: (P.NpuSmiInfo, P.Unparsed),
    P.parse_tool_error: (P.ToolError, type(None)),
    P.find_tool_error: (P.ToolError, type(None)),
}
LIST_PARSERS = {P.parse_ping, P.parse_hccs_ping, P.parse_ip_loop}
IDS = [f.__name__ for f in PARSERS]

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(parser: Callable[..., Any], text: str) -> None:
    result = parser(text)
    items = result if parser in LIST_PARSERS else [result]
    if parser in LIST_PARSERS:
        assert isinstance(result, list) and result, "list parsers always return at least one entry"
    for item in items:
        assert isinstance(item, PARSERS[parser]), (parser.__name__, type(item))
        if isinstance(item, P.Unparsed):
            assert not item.reason.startswith(INTERNAL_ERROR_PREFIX), (parser.__name__, item.reason, text)
        if isinstance(item, BaseModel):
            item.model_dump_json()  # serialisable for --json, computed fields included
        if parser in (P.parse_ping, P.parse_hccs_ping):
            assert item.raw in text  # blocks are verbatim slices of the input


# Pieces of real lines, so random texts hit the parsers' interesting paths.
VOCAB = sorted(
    {line for text in SAMPLES.values() for line in text.splitlines()}
    | {
        "",
        " ",
        "|",
        "/",
        ":",
        "=",
        "-",
        "seq=",
        "time=",
        "ms",
        "us",
        "PING6",
        "device 99 PING ::1",
        "recv time out seq=",
        "Destination Host Unreachable",
        "Message too long",
        "[device 3]",
        "No running processes found in NPU 9",
        "| Process id |",
        "address_12=",
        "TLV",
        "\t",
        "99999999999999999999",
    }
)
line_pieces = st.lists(st.sampled_from(VOCAB) | st.text(max_size=12), min_size=1, max_size=4).map(" ".join)
vocab_texts = st.lists(line_pieces, max_size=25).map("\n".join)


@pytest.mark.parametrize("parser", list(PARSERS), ids=IDS)
@FUZZ
@given(text=st.text(max_size=400))
def test_arbitrary_text(parser: Callable[..., Any], text: str) -> None:
    check(parser, text)


@pytest.mark.parametrize("parser", list(PARSERS), ids=IDS)
@FUZZ
@given(text=vocab_texts)
def test_texts_made_of_real_pieces(parser: Callable[..., Any], text: str) -> None:
    check(parser, text)


@st.composite
def mutated_sample(draw: st.DrawFn) -> str:
    """A real sample with random line deletions, duplications, insertions, swaps, char edits,
    and a random truncation."""
    lines = SAMPLES[draw(st.sampled_from(sorted(SAMPLES)))].split("\n")
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["delete", "duplicate", "insert", "swap", "edit", "insert_other"]))
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if op == "delete" and lines:
            del lines[i]
        elif op == "duplicate" and lines:
            lines.insert(i, lines[i])
        elif op == "insert":
            lines.insert(i, draw(line_pieces))
        elif op == "insert_other":
            lines.insert(i, draw(st.sampled_from(VOCAB)))
        elif op == "swap" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "edit" and lines and lines[i]:
            k = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:k] + draw(st.text(max_size=3)) + lines[i][k + 1 :]
    text = "\n".join(lines)
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text


@pytest.mark.parametrize("parser", list(PARSERS), ids=IDS)
@FUZZ
@given(text=mutated_sample())
def test_mutated_real_samples(parser: Callable[..., Any], text: str) -> None:
    check(parser, text)


@pytest.mark.parametrize("parser", list(PARSERS), ids=IDS)
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_through_every_parser(parser: Callable[..., Any], name: str) -> None:
    check(parser, SAMPLES[name])
    check(parser, SAMPLES[name].replace("\n", "\r\n"))


@pytest.mark.parametrize("parser", list(PARSERS), ids=IDS)
@pytest.mark.parametrize("value", [None, 42, b"ipaddr:1.2.3.4\n", b"\xff\xfe", ["x"]])
def test_non_text_input(parser: Callable[..., Any], value: object) -> None:
    result = parser(value)
    items = result if isinstance(result, list) else [result]
    for item in items:
        assert item is None or isinstance(item, PARSERS[parser])


def test_bytes_are_decoded() -> None:
    r = P.parse_ip(b"ipaddr:1.2.3.4\nnetmask:255.0.0.0\n")
    assert isinstance(r, P.IpConfig) and r.ipaddr == "1.2.3.4"


def test_guard_reports_internal_errors() -> None:
    """The safety net works (and says so), so the assertion in ``check`` is meaningful."""
    from console.core.parsers.common import guarded

    @guarded()
    def broken(text: str) -> P.Unparsed:
        raise ZeroDivisionError("boom")

    r = broken("x")
    assert isinstance(r, P.Unparsed) and r.reason.startswith(INTERNAL_ERROR_PREFIX) and "boom" in r.reason
