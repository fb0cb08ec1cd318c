"""The Diagnosis view's model (no textual): causes grouped by server with the first cause's
server first, victims marked, links under their cause, the implicated card pairs as custom ping
pairs, and the evidence folder of a server."""

from console.core.diagnosis import Cause, Diagnosis, EvidenceLine, Link
from console.ui.models.diagnosis import DiagnosisModel, DiagnosisState, cause_label, cause_lines


def _diag() -> Diagnosis:
    line = EvidenceLine(source="rank-3.log", line_no=4, text="[ERROR] wait socket establish timeout")
    return Diagnosis(
        headline="rank 3 (a dev 3) could not connect to rank 7 (b dev 3): last ping of that pair: 33.33 % loss",
        first=1,
        victims=[7, 5],
        causes=[
            Cause(
                cause="socket_timeout",
                rule="r",
                code="EI0006",
                title="timeout",
                server="b",
                rank=7,
                device_id=3,
                lines=[line] * 6,
                count=2,
            ),
            Cause(
                cause="socket_timeout",
                rule="r",
                code="EI0006",
                title="timeout",
                server="a",
                rank=3,
                device_id=3,
                remote_rank=7,
                remote_server="b",
                remote_device_id=3,
                lines=[line],
            ),
            Cause(cause="c10d_timeout", rule="r", title="c10d", server="b", rank=5),
            Cause(cause="unknown_error", rule="r", title="what", lines=[line]),
        ],
        links=[
            Link(
                kind="ping",
                cause_index=1,
                message="a dev 3 → b dev 3: 33.33 % loss",
                src_host="a",
                src_device=3,
                dst_host="b",
                dst_device=3,
                status="loss",
                loss_pct=33.33,
            ),
            Link(
                kind="ping",
                cause_index=1,
                message="b dev 3 → a dev 3: 0 % loss",
                src_host="b",
                src_device=3,
                dst_host="a",
                dst_device=3,
                status="ok",
            ),
            Link(
                kind="ping_untested",
                cause_index=0,
                message="never tested",
                src_host="b",
                src_device=1,
                dst_host="fd00::2",
                dst_device=2,
            ),
            Link(
                kind="ping_untested",
                cause_index=2,
                message="never tested (reverse)",
                src_host="fd00::2",
                src_device=2,
                dst_host="b",
                dst_device=1,
            ),
        ],
    )


def test_groups_put_the_first_causes_server_first_and_mark_victims():
    m = DiagnosisModel()
    m.start("/nonexistent", during="stall")
    assert m.state is DiagnosisState.RUNNING and "the stall" in m.headline()
    m.show(_diag())
    groups = m.groups()
    assert [g.server for g in groups] == ["a", "b", "(server not known)"]
    a, b, unknown = groups
    assert [(r.index, r.first, r.victim) for r in a.rows] == [(1, True, False)]
    assert [(r.index, r.first, r.victim) for r in b.rows] == [(0, False, True), (2, False, True)]
    assert [lk.status for lk in a.rows[0].links] == ["loss", "ok"]
    assert unknown.rows[0].cause.cause == "unknown_error"
    assert m.servers() == ["a", "b"]
    assert m.headline().endswith("(at the stall; the job goes on)")


def test_ping_pairs_are_the_untested_and_the_lossy_ones_both_ways_once_each():
    m = DiagnosisModel()
    m.show(_diag())
    assert m.ping_pairs_text() == "a:3 b:3\nb:3 a:3\nb:1 [fd00::2]:2\n[fd00::2]:2 b:1\n"


def test_labels_and_lines():
    c = _diag().causes[0]
    assert cause_label(c) == "[rank 7 dev 3] EI0006 socket_timeout: timeout (x2)"
    lines = cause_lines(c)
    assert lines[0] == "rank-3.log:4: [ERROR] wait socket establish timeout" and lines[-1] == "… 2 more lines"


def test_evidence_dir_is_the_deepest_folder_that_exists(tmp_path):
    m = DiagnosisModel()
    m.start(str(tmp_path))
    m.show(_diag())
    assert m.evidence_dir() == tmp_path
    (tmp_path / "evidence" / "a").mkdir(parents=True)
    assert m.evidence_dir() == tmp_path / "evidence" / "a"
    assert m.evidence_dir("b") == tmp_path / "evidence"
    m.fail("boom")
    assert m.headline() == "no diagnosis: boom"
