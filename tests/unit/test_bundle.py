"""`cluster-console bundle RUN`: the tarball opens, has SUMMARY.txt on top, and holds no secret
value and no private key, also for older records that stored env values in clear."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from console.cli import main
from console.core.secrets import (
    MASK,
    is_secret_name,
    mask_env,
    mask_text,
    secret_values,
)
from tests.unit.test_cli_diagnose import _record

SECRET = "hunter2-very-secret"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


def test_secret_names():
    for name in (
        "HF_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "DB_PASSWORD",
        "MY_PASSWD",
        "API_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AUTH_HEADER",
        "hf_token",
    ):
        assert is_secret_name(name), name
    for name in ("MASTER_ADDR", "MASTER_PORT", "RANK", "HCCL_CONNECT_TIMEOUT", "DEVICE_ID"):
        assert not is_secret_name(name), name
    assert mask_env({"HF_TOKEN": "x", "RANK": "0", "API_KEY": ""}) == {"HF_TOKEN": MASK, "RANK": "0", "API_KEY": ""}


def test_mask_text():
    text = f"export HF_TOKEN={SECRET} RANK=3\nprinted {SECRET} again\n{KEY}"
    out = mask_text(text, {SECRET})
    assert SECRET not in out and "RANK=3" in out and "PRIVATE KEY" not in out
    assert secret_values({"a": [{"env": {"X_KEY": "v1", "RANK": "2"}}]}) == {"v1"}


def _planted(tmp_path: Path) -> Path:
    run = _record(tmp_path)
    plan = json.loads((run / "plan.json").read_text())
    plan["servers"][0]["ranks"][0]["env"]["HF_TOKEN"] = SECRET  # an older record: in clear
    plan["servers"][0]["ranks"][0]["command"] = f"HF_TOKEN={SECRET} python3 serve.py"
    (run / "plan.json").write_text(json.dumps(plan))
    (run / "rank-0.log").write_text(f"env dump: token is {SECRET}\n{KEY}")
    (run / "id_ed25519").write_text(KEY)
    ev = run / "evidence" / "127.0.0.11"
    ev.mkdir(parents=True)
    (ev / "plog-1.log").write_text("[ERROR] HCCL(1,p):2026-01-05-10:00:00.000.000 x\n")
    (ev / "id_ed25519").write_text(KEY)
    (ev / "notes.txt").write_text(f"copied key:\n{KEY}")
    (ev / "link.log").symlink_to(tmp_path / "outside.log")
    (tmp_path / "outside.log").write_text(f"outside {SECRET}\n")
    return run


def test_bundle_opens_and_holds_no_secret(tmp_path, capsys):
    run = _planted(tmp_path)
    out = tmp_path / "b.tar.gz"
    assert main(["bundle", str(run), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with tarfile.open(out) as tar:
        names = tar.getnames()
        top = run.name
        assert names[0] == f"{top}/SUMMARY.txt"
        for want in (
            "diagnosis.txt",
            "diagnosis.json",
            "plan.json",
            "events.jsonl",
            "versions.txt",
            "logs/rank-0.log",
            "logs/rank-3.log",
            "evidence/127.0.0.11/plog-1.log",
        ):
            assert f"{top}/{want}" in names, want
        assert not any("id_ed25519" in n or "link.log" in n or "notes.txt" in n for n in names)
        assert all(m.isfile() for m in tar.getmembers())
        blob = b"".join(tar.extractfile(m).read() for m in tar.getmembers())
    assert SECRET.encode() not in blob
    assert b"PRIVATE KEY" not in blob
    summary = blob.decode()
    assert "DIAGNOSIS" in summary and "socket_timeout" in summary
    assert "id_ed25519 (looks like a key)" in summary


def test_bundle_refuses_what_is_not_a_run_record(tmp_path, capsys):
    assert main(["bundle", str(tmp_path)]) == 2
    assert "not a run record" in capsys.readouterr().err
    run = _record(tmp_path)
    assert main(["bundle", str(run), "-o", str(tmp_path / "nope" / "b.tar.gz")]) == 2


def test_bundle_does_not_follow_an_output_symlink(tmp_path, capsys):
    run = _record(tmp_path)
    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    link = tmp_path / "out.tar.gz"
    link.symlink_to(target)
    assert main(["bundle", str(run), "-o", str(link)]) == 0
    capsys.readouterr()
    assert target.read_text() == "keep me" and not link.is_symlink()
    with tarfile.open(link) as tar:
        assert tar.getnames()


@pytest.mark.parametrize("name", ["id_rsa", "server.pem", "tls.key", "private_notes.txt"])
def test_key_like_names_are_left_out(name):
    from console.ops.bundle import KEY_NAME

    assert KEY_NAME.search(name)
    assert not KEY_NAME.search("plog-12345.log")


def test_bundle_masks_token_shapes_in_evidence_and_logs(tmp_path, capsys):
    """Evidence from older records (or fetched with --collect, where plan.json holds ***) may
    carry a token under no secret-looking name: its common shapes are masked all the same."""
    run = _planted(tmp_path)
    bearer, hf = "eyJhbGciOiJIUzI1NiJ9.payload.sig", "hf_AbCdEfGhIjKlMnOpQrStUvWx01"
    (run / "evidence" / "127.0.0.11" / "mindie.log").write_text(
        f"[ERROR] request failed, headers: Authorization: Bearer {bearer}\nmodel pull {hf} 401\n"
    )
    (run / "rank-1.log").write_text(f"curl -H 'authorization: bearer {bearer}' {hf}\n")
    out = tmp_path / "b.tar.gz"
    assert main(["bundle", str(run), "-o", str(out)]) == 0
    with tarfile.open(out) as tar:
        names = tar.getnames()
        blob = b"".join(tar.extractfile(m).read() for m in tar.getmembers())
    assert f"{run.name}/evidence/127.0.0.11/mindie.log" in names
    assert bearer.encode() not in blob and hf.encode() not in blob
    assert b"Authorization: Bearer ***" in blob


def test_summary_names_the_ranks_that_printed_nothing(tmp_path, capsys):
    run = _record(tmp_path)  # ranks 0, 1 and 3 wrote a log; rank 2 printed nothing
    (run / "rank-0.log").unlink()
    out = tmp_path / "b.tar.gz"
    assert main(["bundle", str(run), "-o", str(out)]) == 0
    with tarfile.open(out) as tar:
        summary = tar.extractfile(f"{run.name}/SUMMARY.txt").read().decode()
    assert "  ranks 0,2 printed nothing (no log)\n" in summary
