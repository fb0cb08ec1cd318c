"""The host agent does no file work at the release moment: the uploaded files' last sha256
check runs when GO arrives, while the agent waits for the moment it was given, so the release
is not delayed by the uploads' size (differently on every server: start skew).

The agent runs as a real local process; its program is the real one with
``Guard.check_files`` wrapped to write one frame (with the agent's clock) per check.
"""

from __future__ import annotations

import time

from console.ops import agentlink
from console.ops.agentlink import LocalAgentLink
from tests.ops.agent_patch import source_with
from tests.ops.test_hostagent import Agent, rank

TRACE = """
_check_files = Guard.check_files


def _traced(self):
    os.write(1, (json.dumps({"t": "error", "msg": "check %r" % time.time()}) + "\\n").encode("ascii"))
    return _check_files(self)


Guard.check_files = _traced
"""


async def test_the_files_are_checked_before_the_release_moment_not_at_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(agentlink, "agent_source", source_with(TRACE))
    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"x" * 1024)
    from console.ops.filehash_remote import file_sha256

    agent = Agent(await LocalAgentLink.start("local"))
    try:
        await agent.send_spec([rank(0, "true")], files={str(upload): file_sha256(str(upload))})
        await agent.until("ready")
        at = time.time() + 3.0  # the release moment (this machine's clock: the agent's too)
        agent.send({"t": "go", "at": at})
        started = await agent.until("started")
        checks = [float(f["msg"].split()[1]) for f in agent.seen if f["t"] == "error" and f["msg"].startswith("check")]
        assert len(checks) == 2, agent.seen  # at the barrier, and on GO
        assert all(c < at for c in checks), (checks, at)  # none at (or after) the moment
        assert started["ts"] >= at
    finally:
        await agent.close()
