"""Clock offset and GO margin per host agent (ping/pong on the agent channel).

The console pings each agent ``SYNC_PINGS`` times together with the job spec; each pong carries the
agent's ``time.time()``. NTP-style, ``offset = a - (c + rtt / 2)`` (agent clock minus console
clock) from the sample with the shortest round trip; an offset within that sample's
uncertainty (rtt/2 + 1 ms) counts as 0, so servers on one machine, or with NTP-synced
clocks, are never "corrected" by noise. GO then carries each agent's release moment in
its own clock: ``console now + margin + offset``.
"""

from __future__ import annotations

import time

SYNC_PINGS = 3
MARGIN_S = (0.05, 2.0)
PER_AGENT_S = 0.002
"""GO's release moment is now + clamp(2 x worst round trip + 20 ms, MARGIN_S[0], MARGIN_S[1] +
PER_AGENT_S x agents) + 2 x the time the console needs to write GO to every agent (``fanout_s``:
it writes them one after another, so this part grows with the number of servers and is not
capped). The round trips were measured while every agent was starting (their worst is the
slowest moment, not GO's), hence a cap; it grows with the agents (4 s at 1,024) because GO's
delivery, each agent reading and checking it, is also slower the more of them share a
jump host's link or, on the simulator, one SSH server and two cores: at 1,024 simulated servers
GO reached the last agent 0.7 s after a 2 s margin. A second more before the start of a
1,024-server job costs nothing next to its set-up."""


class AgentClocks:
    def __init__(self, margin_s: float | None = None) -> None:
        self.margin_override = margin_s
        self.samples: dict[str, list[float]] = {}  # sid -> [best rtt, its offset, worst rtt]
        self.pings: dict[str, int] = {}

    def ping(self, sid: str) -> dict:
        """The next ping message for ``sid``."""
        self.pings[sid] = self.pings.get(sid, 0) + 1
        return {"t": "ping", "c": time.time()}

    def pong(self, sid: str, msg: dict) -> bool:
        """Record a pong; True when another ping should follow."""
        rtt = time.time() - msg["c"]
        offset = msg["a"] - (msg["c"] + rtt / 2)
        best = self.samples.setdefault(sid, [rtt, offset, rtt])
        if rtt < best[0]:
            best[:2] = rtt, offset
        best[2] = max(best[2], rtt)
        return self.pings.get(sid, 0) < SYNC_PINGS

    def synced(self, sids: set[str]) -> bool:
        return set(self.samples) >= sids

    def count(self) -> int:
        """How many agents' clocks are known."""
        return len(self.samples)

    def offset(self, sid: str) -> float:
        """This server's clock minus ours; 0 when within the round-trip uncertainty."""
        rtt, offset, _ = self.samples.get(sid, (0.0, 0.0, 0.0))
        return offset if abs(offset) > rtt / 2 + 0.001 else 0.0

    def margin(self, fanout_s: float = 0.0) -> float:
        if self.margin_override is not None:
            return self.margin_override
        worst = max((c[2] for c in self.samples.values()), default=0.0)
        cap = MARGIN_S[1] + PER_AGENT_S * len(self.samples)
        return min(cap, max(MARGIN_S[0], 2 * worst + 0.02)) + 2 * fanout_s

    def report(self) -> dict[str, dict[str, float]]:
        return {
            sid: {"rtt_s": round(c[0], 6), "offset_s": round(self.offset(sid), 6)} for sid, c in self.samples.items()
        }
