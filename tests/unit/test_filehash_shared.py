"""One sha256 function (``filehash_remote.file_sha256``) for both programs sent to the
servers: the host agent's and the run-folder helper's, and the helper sent as
``python3 -c`` still answers with the right sums."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from console.ops import rundir_remote
from console.ops.agentlink import agent_source
from console.ops.rundir import helper_source


def test_both_programs_carry_the_one_definition() -> None:
    for source in (agent_source(), helper_source()):
        assert source.count("def file_sha256(") == 1
        assert "def sha256_of(" not in source


def test_the_helper_sent_as_python_c_hashes_what_it_wrote(tmp_path: Path) -> None:
    data = b"rank table\n"
    req = {
        "op": "make",
        "base": str(tmp_path / "runs"),
        "run": "r1",
        "name": "s1",
        "table": None,
        "files": {"a.json": [base64.b64encode(data).decode(), 0o600]},
    }
    proc = subprocess.run(
        [sys.executable, "-c", helper_source()],
        input=json.dumps(req).encode(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    line = next(x for x in proc.stdout.decode().splitlines() if x.startswith(rundir_remote.MARK))
    answer = json.loads(line[len(rundir_remote.MARK) + 1 :])
    assert answer["ok"], answer
    assert answer["sha256"] == {f"{answer['dir']}/a.json": hashlib.sha256(data).hexdigest()}
