"""``ccsim-hccl-init``: what HCCL's communicator init does on a real server, against the planted
faults of the simulated cluster, run by a rank (the probe, the demo's simulated workload)
before its collectives start. Stdlib only; reads the rank's env (RANK, DEVICE_ID,
RANK_TABLE_FILE, HCCL_CONNECT_TIMEOUT) and the server's state.

Checks, in HCCL's order, each failing with HCCL's real log lines (plog format, the same lines
also on stderr as with ASCEND_SLOG_PRINT_TO_STDOUT=1) and exit status 1:

* the rank table's device_ip for this rank differs from the card's IP -> EI0014;
* a process holds this NPU (``processes`` of the device) -> listen on port 16666 fails;
* the TLS switch differs among the job's devices -> EI0016 with the two rank lists;
* a lossy or down link between this device and a device of another server in the job ->
  after the (compressed) connect wait, ``wait socket establish timeout`` with the
  LINK_ERROR_INFO table naming each peer, then EI0006, on both ends of the link;
* a ``stuck`` card (a hung NPU): its rank hangs silently, before any line, until killed; every
  other rank of the job prints one INFO line, then waits HCCL_CONNECT_TIMEOUT in full (not
  compressed: a stalled launch is what ``--fail-fast-stall`` is for) and times out naming the
  stuck ranks in the LINK_ERROR_INFO table, then EI0006.

The wait is ``CCSIM_HCCL_WAIT_S`` seconds (default 1), not HCCL_CONNECT_TIMEOUT: the lines
still say the configured timeout. Both ends of a bad link time out together on a real cluster;
here the first to exit tears the job down, so TERM is ignored during the wait and the logging
(the launch's KILL after the grace period still ends it). Plog files go to ``$HOME/ascend/log/debug/plog/``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import ccsim

PORT = 16666


def _ts() -> str:
    now = time.time()
    micro = int(now * 1e6) % 1000000
    return time.strftime("%Y-%m-%d-%H:%M:%S", time.localtime(now)) + f".{micro // 1000:03d}.{micro % 1000:03d}"


class _Log:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lines: list[str] = []

    def plog(self, where: str, text: str) -> None:
        self.lines.append(f"[ERROR] HCCL({self.pid},python3):{_ts()} [{where}] [{self.pid}]{text}")

    def event(self, code: str, text: str) -> None:
        self.lines.append(f"{code}: [PID: {self.pid}] {_ts()} {text}")

    def flush(self) -> None:
        text = "".join(line + "\n" for line in self.lines)
        sys.stderr.write(text)
        sys.stderr.flush()
        home = os.environ.get("HOME")
        if not home:
            return
        folder = os.path.join(home, "ascend", "log", "debug", "plog")
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            name = os.path.join(folder, f"plog-{self.pid}_{time.strftime('%Y%m%d%H%M%S')}.log")
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(text)
        except OSError:
            pass


def _table(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    out = []
    for server in doc.get("server_list") or []:
        for d in server.get("device") or []:
            out.append(
                {
                    "server": str(server.get("server_id")),
                    "rank": int(d["rank_id"]),
                    "device_id": int(d["device_id"]),
                    "ip": d.get("device_ip"),
                }
            )
    return out


def _links(state: dict, me: dict, my_dev: dict, job: list[dict]) -> list[dict]:
    """Peers on other servers whose link with this device is lossy or down."""
    bad = {(int(a), b) for a, b in state.get("bad_links", [])}
    bad_peers = []
    for peer in job:
        if peer["server"] == me["server"] or not peer["ip"]:
            continue
        owner = ccsim.peers(state).get(peer["ip"])
        down = my_dev.get("link") == "DOWN" or (owner is not None and owner[3] == "DOWN")
        if down or (me["device_id"], peer["ip"]) in bad:
            bad_peers.append(peer)
    return bad_peers


def _fold(ranks: list[int]) -> str:
    return ",".join(str(r) for r in sorted(ranks))


def main(argv: list[str], state_path: str) -> int:
    with open(state_path, encoding="utf-8") as fh:
        state = json.load(fh)
    rank, table = os.environ.get("RANK"), os.environ.get("RANK_TABLE_FILE")
    if rank is None or not table:
        print("ccsim-hccl-init: RANK and RANK_TABLE_FILE must be set", file=sys.stderr)
        return 2
    job = _table(table)
    me = next((e for e in job if e["rank"] == int(rank)), None)
    if me is None:
        print(f"ccsim-hccl-init: rank {rank} is not in {table}", file=sys.stderr)
        return 2
    dev = state["devices"].get(str(me["device_id"]), {})
    log = _Log()
    timeout = os.environ.get("HCCL_CONNECT_TIMEOUT", "120")
    stuck = set(state.get("stuck_ips") or [])
    if me["ip"] in stuck:
        while True:  # a hung NPU: nothing printed, nothing connects; TERM ends it
            signal.pause()
    if me["ip"] and dev.get("ip") and me["ip"] != dev["ip"]:
        log.event(
            "EI0014",
            f"[check][ip]fail, ret(129) the IP address({me['ip']}) in the ranktable "
            f"is inconsistent with the IP address({dev['ip']}) of the network adapter, "
            "please make sure they're consistent.",
        )
    elif dev.get("processes"):
        log.plog(
            "hccl_socket.cc:100",
            f"[HcclSocket][Listen] socket type[1], listen on ip[{dev.get('ip')}] "
            f"and specific port[{PORT}] fail. Please check the port status and whether the port "
            "is been using by other process.",
        )
        log.plog("hccl_socket_manager.cc:54", "[ServerInit]call trace: hcclRet -> 19")
    else:
        tls = ccsim.cluster(state).get("peer_tls", {})
        on = [e["rank"] for e in job if tls.get(e["ip"] or "") == 1]
        off = [e["rank"] for e in job if tls.get(e["ip"] or "") == 0]
        if on and off:
            mine = "Enable" if dev.get("tls") == 1 else "Disable"
            log.event(
                "EI0016",
                f'Value {mine} for config "tls" is invalid. Expected Value:"All ranks are '
                f"consistent. Current status : rankList for enabled tls:[{_fold(on)}]; "
                f"rankList for disabled tls:[{_fold(off)}]",
            )
        else:
            waits = [e for e in job if e["ip"] in stuck and e["rank"] != me["rank"]]
            if waits:
                return _wait_for_stuck(log, me, dev, waits, timeout)
            peers = _links(state, me, dev, job)
            if not peers:
                return 0
            # both ends of a link time out at the same moment on a real cluster; here the first
            # end to exit tears the job down, so the other end's TERM waits until it has logged
            signal.signal(signal.SIGTERM, lambda *_: None)
            time.sleep(float(os.environ.get("CCSIM_HCCL_WAIT_S", "1")))
            role = 1 if any(p["rank"] > me["rank"] for p in peers) else 0
            log.plog(
                "hccl_socket_manager.cc:797",
                f"[Wait][LinkEstablish]wait socket establish timeout, "
                f"role[{role}] rank[{me['rank']}] timeout[{timeout} s]",
            )
            log.plog("hccl_socket_manager.cc:861", "[Wait][LinksEstablishCompleted] is failed. ret[9].")
            _link_error_info(log, me, dev, peers)
    log.flush()
    return 1


def _link_error_info(log: _Log, me: dict, dev: dict, peers: list[dict]) -> None:
    log.plog("hccl_socket_manager.cc:623", "   _________________________LINK_ERROR_INFO___________________________")
    log.plog("hccl_socket_manager.cc:624", f"   |  comm error, device[{me['device_id']}]")
    log.plog(
        "hccl_socket_manager.cc:626",
        "   |  dest_ip(user_rank)  |   dest_port   |  "
        "src_ip(user_rank)   |   src_port   |   MyRole   |   Status   |    TlsStatus   |",
    )
    tls_text = "ENABLE" if dev.get("tls") == 1 else "DISABLE"
    for p in peers:
        my_role = "client" if p["rank"] > me["rank"] else "server"
        log.plog(
            "hccl_socket_manager.cc:583",
            f"   |  {p['ip']}({p['rank']})   |  {PORT}  |   "
            f"{me['ip']}({me['rank']})   |  {40000 + me['rank']}  |  {my_role}  | time out |"
            f"   {tls_text}  | LinkInfo",
        )
    log.event(
        "EI0006",
        "Getting socket times out. Reason: 1. The remote does not initiate a "
        "connect request. some NPUs in the cluster are abnormal.",
    )


def _wait_for_stuck(log: _Log, me: dict, dev: dict, peers: list[dict], timeout: str) -> int:
    """Peers that never come: one INFO line now, the full HCCL_CONNECT_TIMEOUT, then HCCL's
    timeout lines naming them."""
    pid = os.getpid()
    sys.stderr.write(
        f"[INFO] HCCL({pid},python3):{_ts()} [hccl_socket_manager.cc:760] [{pid}]"
        f"[Wait][LinkEstablish] rank[{me['rank']}] waits for {len(peers)} remote "
        f"rank(s) to connect, timeout[{timeout} s]\n"
    )
    sys.stderr.flush()
    try:
        time.sleep(max(float(timeout), 0.0))
    except ValueError:
        time.sleep(120.0)
    log.plog(
        "hccl_socket_manager.cc:797",
        f"[Wait][LinkEstablish]wait socket establish timeout, role[1] rank[{me['rank']}] timeout[{timeout} s]",
    )
    log.plog("hccl_socket_manager.cc:861", "[Wait][LinksEstablishCompleted] is failed. ret[9].")
    _link_error_info(log, me, dev, peers)
    log.flush()
    return 1


if __name__ == "__main__":  # pragma: no cover - the launcher calls main()
    sys.exit(main(sys.argv[1:], os.environ.get("CCSIM_STATE", "")))
