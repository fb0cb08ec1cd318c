"""The diagnosis rule table and classifier on real log excerpts (tests/data/diagnosis)."""

import csv
from pathlib import Path

import pytest

from console.core.diagnosis import RULES, classify_text, parse_log_time
from console.core.diagnosis.classify import primary

DATA = Path(__file__).resolve().parents[1] / "data" / "diagnosis"
EXPECTED = list(csv.DictReader((DATA / "expected.csv").open(encoding="utf-8")))


def _excerpt(name: str) -> str:
    text = (DATA / name).read_text(encoding="utf-8")
    header, _, body = text.partition("\n")
    assert header.startswith(("# source: https://github.com/", "# synthetic:")), name
    return body


def test_every_excerpt_is_in_the_expected_table():
    listed = {row["file"] for row in EXPECTED}
    on_disk = {p.name for p in DATA.glob("*.txt")}
    assert on_disk == listed


@pytest.mark.parametrize("row", EXPECTED, ids=[r["file"] for r in EXPECTED])
def test_excerpt_is_classified(row):
    causes = classify_text(_excerpt(row["file"]), name=row["file"])
    top = primary(causes)
    assert top is not None, row["file"]
    assert (top.rule, top.cause) == (row["rule"], row["cause"])
    assert (top.code or "") == row["code"]
    doc = top.to_json()
    for check in filter(None, row["checks"].split(";")):
        key, _, want = check.partition("=")
        got = doc.get(key, getattr(top, key, None))
        if isinstance(got, list):
            got = " ".join(str(x) for x in got)
        assert str(got) == want, (row["file"], key)
    assert top.lines and top.lines[0].source == row["file"]
    assert top.next_check


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_every_rule_has_samples_that_it_wins(rule):
    assert rule.samples, rule.id
    for sample in rule.samples:
        causes = classify_text(sample)
        assert causes and causes[0].rule == rule.id, sample


def test_rule_ids_are_unique():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))


def test_link_error_table_names_both_ends_and_the_wait_line_the_local_rank():
    causes = classify_text(_excerpt("vllm_ascend_9447_link_error_info.txt"))
    row = next(c for c in causes if c.rule == "link_error_info")
    assert (row.rank, row.remote_rank, row.local_ip, row.remote_ip) == (0, 27, "10.20.0.2", "10.20.0.29")
    assert row.fields["status"] == "time out" and row.fields["tls"] == "DISABLE"
    wait = next(c for c in causes if c.rule == "socket_wait_timeout")
    assert (wait.rank, wait.timeout_s, wait.fields["role"]) == (0, 120.0, "0")


def test_repeated_lines_fold_into_one_cause_with_a_count():
    line = (
        "[ERROR] HCCL(1,python3):2026-01-05-10:00:0{}.000.000 [x.cc:1] [1]wait socket establish "
        "timeout, role[1] rank[3] timeout[120 s]"
    )
    causes = classify_text("\n".join(line.format(i) for i in range(6)))
    assert len(causes) == 1 and causes[0].count == 6 and len(causes[0].lines) == 4
    assert causes[0].ts == parse_log_time(line.format(0))


def test_plog_time_keeps_micro_seconds():
    t = parse_log_time("[ERROR] HCCL(12345,python):2024-05-10-12:00:01.123.456 [a.cc:1] x")
    assert t is not None and abs(t - (1715342401 + 0.123456)) < 1e-6
    assert parse_log_time("2024-10-21 10:42:00,218 - lmdeploy - ERROR") == pytest.approx(1729507320.218)
    assert parse_log_time("no time here") is None
    assert parse_log_time("2024-13-45-99:99:99") is None


def test_unknown_error_falls_back_to_the_first_error_looking_line():
    causes = classify_text(_excerpt("synthetic_unknown.txt"))
    assert [c.cause for c in causes] == ["unknown_error"]
    assert causes[0].lines[0].text.startswith("ValueError: weights file")
    assert classify_text("all fine\nstill fine") == []


def test_cause_gives_the_plain_diagnostic_tuple():
    cause = primary(classify_text(_excerpt("vllm_ascend_1955_port_in_use.txt")))
    assert cause is not None
    d = cause.diagnostic()
    assert set(d) == {"severity", "code", "message", "where"}
    assert d["severity"] == "error" and "16666" in d["message"]


def test_classifier_never_raises_on_garbage():
    for text in ("\x00\xff" * 50, "|" * 10000, "x" * 30000, "EI0006", "[c10d] timed out after ms"):
        classify_text(text)
