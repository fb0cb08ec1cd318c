"""The same error on every rank is one common cause, not one first rank and its victims; the
lines fold although each names its own rank and host."""

from console.core.diagnosis import LogSource, classify_all, diagnose
from console.core.diagnosis.model import RankPlace
from console.core.diagnosis.text import render

PLACES = [RankPlace(rank=r, server="127.0.0.11" if r < 8 else "127.0.0.12", device_id=r % 8) for r in range(16)]


def _logs(line: str) -> list[LogSource]:
    return [
        LogSource(name=f"rank-{r}.log", rank=r, server=PLACES[r].server, text=line.format(rank=r, host=f"node{r // 8}"))
        for r in range(16)
    ]


def test_torch_missing_on_every_rank_is_one_common_cause():
    causes = classify_all(
        _logs(
            "probe[rank {rank} on {host}]: error: torch is not installed on host {host} "
            "(/usr/bin/python3); put a python with torch first on PATH with a setup line"
        )
    )
    diag = diagnose(causes, places=PLACES, exits={r: 100.0 - r for r in range(16)})
    assert len(diag.causes) == 1 and diag.victims == []
    c = diag.first_cause()
    assert (c.cause, c.fold_ranks, c.fold_servers) == ("python_env", list(range(16)), ["127.0.0.12", "127.0.0.11"])
    assert diag.headline.startswith(
        "every rank (16 on 2 servers) failed the same way: the rank's python has no "
        "torch (/usr/bin/python3); next: put a python with torch first on PATH"
    )
    text = render(diag)
    assert "[victim]" not in "\n".join(text) and len(text) < 10
    assert c.to_json()["ranks"] == list(range(16))


def test_unknown_errors_that_differ_only_in_numbers_and_hosts_fold():
    causes = classify_all(_logs("RuntimeError: worker {rank} on {host} failed: bad config at 10.0.0.{rank}"))
    diag = diagnose(causes, places=PLACES[:4])
    assert len(diag.causes) == 1 and diag.victims == []
    assert diag.first_cause().fold_ranks == list(range(16))
    assert diag.headline.startswith("every rank (16 on 2 servers) failed the same way: RuntimeError: worker")


def test_a_root_cause_on_some_ranks_keeps_the_others_as_victims():
    logs = _logs("probe[rank {rank} on {host}]: error: torch is not installed on host {host} (/usr/bin/python3)")[:3]
    logs.append(
        LogSource(
            name="rank-9.log", rank=9, server="127.0.0.12", text="[gloo] Timed out waiting 30000ms for recv operation"
        )
    )
    diag = diagnose(classify_all(logs), places=PLACES)
    assert diag.first_cause().fold_ranks == [0, 1, 2] and diag.victims == [9]
    assert diag.headline.startswith("ranks 0-2 (3 on 1 server) failed the same way")
