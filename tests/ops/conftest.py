"""The in-process simulated Ascend cluster, for every test in tests/ops.

Fixtures:
  ``sim_cluster``  the default spec (MindIE guide: 2 x 8 A2, server 1 device 3 -> server 2
                   device 3 loses probe 0) started in tmp_path on a free port.
  ``sim_factory``  ``await sim_factory(spec=None, **generate_kwargs)`` -> a started
                   SimCluster (``ClusterSpec.generate(**kw)`` when kwargs are given);
                   every cluster is stopped at teardown.
  ``sim_connect``  ``sim_connect(sim, host, **kw)`` -> an ``asyncssh.connect(...)`` awaitable
                   that verifies the host key against the sim's known_hosts and logs in
                   with the sim's client key (use as ``async with``).

Each cluster gets its own free port, so test runs in parallel do not collide even though
they share the 127.0.0.x addresses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from console.sim.cluster import SimCluster
from console.sim.spec import ClusterSpec


def connect(sim: SimCluster, host: str, **kw: Any) -> Any:
    options: dict[str, Any] = {
        "port": sim.port,
        "known_hosts": str(sim.known_hosts_path),
        "client_keys": [str(sim.client_key_path)],
        "username": sim.user,
        "config": None,
        "agent_path": None,
        "connect_timeout": 20,
    }
    options.update(kw)
    return asyncssh.connect(host, **options)


@pytest.fixture
async def sim_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    started: list[SimCluster] = []

    async def start(spec: ClusterSpec | None = None, **generate: Any) -> SimCluster:
        if spec is None:
            spec = ClusterSpec.generate(**generate) if generate else ClusterSpec.default()
        sim = SimCluster(spec, tmp_path / f"sim{len(started)}", port=0)
        await sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        await sim.stop()


@pytest.fixture
async def sim_cluster(sim_factory: Callable[..., Any]) -> SimCluster:
    return await sim_factory()


@pytest.fixture
def sim_connect() -> Callable[..., Any]:
    return connect
