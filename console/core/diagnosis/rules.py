"""The rule table: log text -> cause. Data, not code: add a failure by adding a ``Rule``.

Each rule has an id, the cause id it yields (several rules may share one), the Ascend code
it stands for when the line carries none, regexes (any one matching a line triggers the rule;
their named groups are the extracted fields), optional ``context`` regexes read from the
following lines (tables, counts), a one-line title and explanation (``{field}`` templates),
the next check to run, and sample lines (tests/unit/test_diagnosis_rules.py checks that every
sample triggers its rule and no earlier one).

Field names with a meaning (classify.py converts them): ``rank`` (local), ``remote_rank``,
``device_id``, ``remote_device_id``, ``local_ip``, ``remote_ip``, ``ip``, ``port``,
``remote_port``, ``timeout_s``, ``timeout_ms``, ``connected``, ``needed``, ``code``.
Texts are from shared/reference/ascend.md §6 and real logs (tests/data/diagnosis/).
Rules are tried in order; the first rule whose pattern matches a line wins that line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

IP = r"[0-9A-Fa-f.:x]+"


@dataclass(frozen=True)
class Rule:
    id: str
    cause: str
    title: str
    patterns: tuple[str, ...]
    explanation: str = ""
    next_check: str = ""
    code: str | None = None
    phase: str = "unknown"
    severity: str = "error"
    context: tuple[str, ...] = ()
    context_lines: int = 12
    generic: bool = False
    samples: tuple[str, ...] = field(default=())


RULES: tuple[Rule, ...] = (
    # ------------------------------------------------------------------ configuration
    Rule(
        id="tls_mismatch",
        cause="tls_mismatch",
        code="EI0016",
        phase="config",
        title="TLS switch differs between ranks (enabled: [{tls_on}]; disabled: [{tls_off}])",
        patterns=(
            r'Value \w+ for config "tls" is invalid',
            (
                r"rankList for enabled tls:\[(?P<tls_on>[^\]]*)\]; rankList for disabled "
                r"tls:\[(?P<tls_off>[^\]]*)\]"
            ),
            r"\bEI0016\b",
        ),
        context=(
            (
                r"rankList for enabled tls:\[(?P<tls_on>[^\]]*)\]; rankList for disabled "
                r"tls:\[(?P<tls_off>[^\]]*)\]"
            ),
        ),
        explanation="HCCL needs the same NPU TLS switch on every card of the job.",
        next_check="for i in $(seq 0 7); do hccn_tool -i $i -tls -g; done | grep switch  "
        "(on every server; all must agree)",
        samples=(
            (
                'EI0016: Value Disable for config "tls" is invalid. Expected Value:"All ranks '
                "are consistent. Current status : rankList for enabled tls:[0,1]; rankList for "
                "disabled tls:[2,3]"
            ),
        ),
    ),
    Rule(
        id="ranktable_ip_mismatch",
        cause="ranktable_ip_mismatch",
        code="EI0014",
        phase="config",
        title="rank table device_ip {expected_ip} differs from the card's IP {actual_ip}",
        patterns=(
            (
                r"the IP address\((?P<expected_ip>[^)]*)\) in the ranktable is inconsistent "
                r"with the IP address\((?P<actual_ip>[^)]*)\) of the network adapter"
            ),
        ),
        explanation="HCCL checks each rank's device_ip against the NPU's RoCE address.",
        next_check="hccn_tool -i <device_id> -ip -g on that server, then fix the rank table "
        "(cluster-console ranktable validate FILE --against HOSTS)",
        samples=(
            (
                "EI0014: [check][ip]fail, ret(129) the IP address(127.10.0.0) in the ranktable is "
                "inconsistent with the IP address(127.10.0.1) of the network adapter, please make "
                "sure they're consistent."
            ),
        ),
    ),
    Rule(
        id="env_invalid",
        cause="env_invalid",
        code="EI0001",
        phase="config",
        title="environment variable {env} has an invalid value {value}",
        patterns=(r"Value (?P<value>\S+) for environment variable (?P<env>\w+) is invalid",),
        explanation="HCCL refuses out-of-range HCCL_* values at start.",
        next_check="fix {env} in the launch env (see its documented range)",
        samples=(
            (
                "Config_Error_Invalid_Environment_Variable(EI0001): Value 1000 for environment "
                "variable HCCL_RDMA_SL is invalid. Expected value : range[0, 7]."
            ),
        ),
    ),
    Rule(
        id="ifname_not_found",
        cause="env_invalid",
        code="EI0001",
        phase="config",
        title="HCCL_SOCKET_IFNAME names {ifname}, which is not on this server",
        patterns=(r"set ifname to \[(?P<ifname>[^\]]*)\] by HCCL_SOCKET_IFNAME, but not found",),
        explanation="The host NIC used for the root-info exchange must exist on every server.",
        next_check="ip -br addr on that server; set HCCL_SOCKET_IFNAME / HCCL_IF_IP accordingly",
        samples=(("EI0001: set ifname to [abc] by HCCL_SOCKET_IFNAME, but not found in the environment"),),
    ),
    Rule(
        id="ip_family_mixed",
        cause="ip_family_mixed",
        code="EI0001",
        phase="config",
        title="rank {rank} device IP family differs from the others",
        patterns=(r"rank\[(?P<rank>\d+)\] device ip family\[\d+\] is not same as others",),
        explanation="All device IPs of a job must be IPv4, or all IPv6.",
        next_check="cluster-console ranktable validate FILE",
        samples=("EI0001: rank[0] device ip family[2] is not same as others[10].",),
    ),
    Rule(
        id="ranktable_path",
        cause="ranktable_path",
        code="EI0004",
        phase="config",
        title="rank table file not found or not readable: {path}",
        patterns=(
            r"path (?P<path>\S+) is not a valid real path",
            r"Ranktable file is not exist",
            r"(?i)ranktable.{0,40}permission denied",
        ),
        explanation="Every server needs the rank table at the same path, mode 0640.",
        next_check="ls -l the RANK_TABLE_FILE path on every server (mode 640, same sha256)",
        samples=(
            "EI0004: path /ranktable.json is not a valid real path",
            ("Ranktable file is not exist, please set a valid ranktable file path with RANK_TABLE_FILE environment."),
        ),
    ),
    Rule(
        id="ranktable_invalid",
        cause="ranktable_invalid",
        code=None,
        phase="config",
        title="rank table refused: {detail}",
        patterns=(
            r"(?P<detail>Parameter server_count must be in range.*)",
            r"(?P<detail>.*not equal to server_list length.*)",
            r"(?P<detail>The number of devices in every server node is .*)",
            r"(?P<detail>The containerIp in the server node is empty in ranktable file.*)",
            r"(?P<detail>Parameter device_id is .* out of allow range.*)",
            r"(?P<detail>Parameter rankId in ranktable is .* out of allow range.*)",
            r"(?P<detail>Parameter device_ip is invalid in ranktable file.*)",
            r"(?P<detail>rank_id should be a number less than world size.*)",
            r"(?P<detail>Rank id is not in the rankTableFile.*)",
            r"(?P<detail>\[RanktableCheck\].*)",
            r"(?P<detail>Config_Error_Ranktable\(EI\d{4}\).*)",
        ),
        explanation="MindIE, ATB-Models or HCCL refused the rank table's structure.",
        next_check="cluster-console ranktable validate FILE",
        samples=("Parameter device_ip is invalid in ranktable file.", "[RanktableCheck] super_device_id[] is invalid"),
    ),
    Rule(
        id="inconsistent_args",
        cause="inconsistent_args",
        code="EI0005",
        phase="exec",
        title="ranks called a collective with different arguments ({param}: local {local}, remote {remote})",
        patterns=(
            (
                r"inconsistent between ranks:?\s*parameter (?P<param>\w+), local end "
                r"(?P<local>\S+), remote end (?P<remote>\S+)"
            ),
            r"CMD information tag check fail",
        ),
        explanation="Different scripts, model files, parallel arguments or versions on some ranks.",
        next_check="compare the command, model and CANN/driver/torch_npu versions across servers",
        samples=(
            (
                "EI0005: The arguments for collective communication are inconsistent between "
                "ranks:parameter count, local end 16512, remote end 8320"
            ),
        ),
    ),
    # ------------------------------------------------------------------ devices
    Rule(
        id="port_in_use",
        cause="port_in_use",
        code=None,
        phase="init",
        title="port {port} on {ip} is already in use",
        patterns=(
            r"listen on ip\[(?P<ip>[^\]]*)\] and specific port\[(?P<port>\d+)\] fail",
            r"The IP address (?P<ip>\S+) and port (?P<port>\d+) have already been bound",
        ),
        explanation="Another process (often a leftover job) holds the NPU's HCCL port "
        "(16666 on the device NIC, 60000+ on the host).",
        next_check="npu-smi info (process table) on that server; kill the leftover job",
        samples=(
            (
                "[ERROR] HCCL(2717288,python3):2025-07-23-03:47:57.070.463 [hccl_socket.cc:100] "
                "[2717288][HcclSocket][Listen] socket type[1], listen on ip[192.168.20.160] and "
                "specific port[16666] fail. Please check the port status and whether the port is "
                "been using by other process."
            ),
            "EI0019: The IP address 192.168.1.100 and port 50001 have already been bound.",
        ),
    ),
    Rule(
        id="device_oom",
        cause="device_oom",
        code=None,
        phase="runtime",
        title="NPU {device_id} out of memory (tried to allocate {size})",
        patterns=(
            (
                r"NPU out of memory\. Tried to allocate (?P<size>[\d.]+ ?[KMGTE]i?B)"
                r"(?: memory)?(?: \(NPU (?P<device_id>\d+);)?"
            ),
            r"Failed to allocate \[size: (?P<size>[^\]]*\]?)\] bytes of NPU memory",
        ),
        explanation="The model, batch or HCCL_BUFFSIZE needs more device memory than is free.",
        next_check="npu-smi info (HBM usage, other processes); lower batch/NPU_MEMORY_FRACTION or HCCL_BUFFSIZE",
        samples=(
            (
                "RuntimeError: NPU out of memory. Tried to allocate 5.03 GiB (NPU 3; 60.96 GiB "
                "total capacity; 49.47 GiB already allocated)"
            ),
        ),
    ),
    Rule(
        id="set_device_failed",
        cause="set_device_failed",
        code=None,
        phase="init",
        title="could not open NPU {device_id} (error {errno})",
        patterns=(
            r"c10_npu::SetDevice\(device_id_\), error code is (?P<errno>\d+)",
            r"Failed to open device, retCode=(?P<errno>\S+), deviceId=(?P<device_id>\d+)",
            r"TsdOpen failed\. devId=(?P<device_id>\d+)",
            r"\[Error\]: Failed to start the device",
        ),
        explanation="The device is held by another process, not visible in this container "
        "(ASCEND_RT_VISIBLE_DEVICES) or unhealthy.",
        next_check="npu-smi info (health, process table) on that server; check ASCEND_RT_VISIBLE_DEVICES and DEVICE_ID",
        samples=(
            (
                "RuntimeError: Initialize:torch_npu/csrc/core/npu/sys_ctrl/npu_sys_ctrl.cpp:146 "
                "NPU function error: c10_npu::SetDevice(device_id_), error code is 507033"
            ),
        ),
    ),
    Rule(
        id="link_down",
        cause="link_down",
        code=None,
        phase="connect",
        title="NPU network link is down{dev_text}",
        patterns=(r"(?i)^link status: DOWN", r"Execute failed: Link status is down", r"Optical module is not present"),
        explanation="The NPU's RoCE port has no link: cable, optics or switch port.",
        next_check="hccn_tool -i <device> -link -g / -optical -g / -link_stat -g on that server",
        samples=("link status: DOWN", "Execute failed: Link status is down."),
    ),
    # ------------------------------------------------------------------ link setup / exec
    Rule(
        id="topo_exchange_timeout",
        cause="topo_exchange_timeout",
        code="EI0015",
        phase="connect",
        title="topology exchange timed out after {timeout_s} s ({connected} of {needed} ranks connected)",
        patterns=(
            r"topo exchange server get socket timeout!? timeout\[(?P<timeout_s>\d+)",
            (
                r"total connected num is \[(?P<connected>\d+)\].*need connect rankNum is "
                r"\[(?P<needed>\d+)\]"
            ),
        ),
        context=(
            r"total connected num is \[(?P<connected>\d+)\]",
            r"need connect rankNum is \[(?P<needed>\d+)\]",
            r"Failed to connect agent\[(?P<missing>[\d,]+)",
        ),
        explanation="Not every rank reached the root rank's host socket (HCCL_IF_IP / "
        "HCCL_SOCKET_IFNAME on a wrong NIC, a firewall, or ranks not started).",
        next_check="check HCCL_IF_IP/HCCL_SOCKET_IFNAME exist on every server; "
        "systemctl is-active firewalld; the missing ranks' own logs",
        samples=("EI0015: topo exchange server get socket timeout! timeout[120 s]",),
    ),
    Rule(
        id="link_error_info",
        cause="socket_timeout",
        code="EI0006",
        phase="connect",
        title="rank {rank} ({local_ip}) could not link to rank {remote_rank} ({remote_ip}): {status}",
        patterns=(
            (
                rf"\|\s*(?P<remote_ip>{IP})\((?P<remote_rank>\d+)\)\s*\|\s*(?P<remote_port>\d+)"
                rf"\s*\|\s*(?P<local_ip>{IP})\((?P<rank>\d+)\)\s*\|\s*(?P<src_port>\d+)\s*\|"
                r"\s*(?P<role>\w+)\s*\|\s*(?P<status>[^|]*?)\s*\|\s*(?P<tls>\w+)\s*\|"
            ),
        ),
        explanation="HCCL's LINK_ERROR_INFO names both ends of a link that never came up: the "
        "peer was not started in time, crashed, or the path between the two NPUs "
        "drops packets (or TLS differs).",
        next_check="the peer rank's own log; hccn_tool -i <dev> -ping -g address {remote_ip}",
        samples=(
            (
                "[ERROR] HCCL(106335,):2026-05-21-21:39:58.706.530 [hccl_socket_manager.cc:582] "
                "[128657]   |  10.20.0.29(27)   |  16666  |   10.20.0.2(0)   |  344835272  |  "
                "server  | time out |   DISABLE  | LinkInfo"
            ),
        ),
    ),
    Rule(
        id="transport_init_error",
        cause="socket_timeout",
        code="EI0009",
        phase="connect",
        title="rank {rank} ({local_ip}) could not create its link to rank {remote_rank} ({remote_ip})",
        patterns=(
            (
                rf"crea[tk]e?Link para:\s*rank\[(?P<rank>\d+)\]-localUserrank\[\d+\]-localIpAddr"
                rf"\[(?P<local_ip>{IP})\],\s*dst_rank\[(?P<remote_rank>\d+)\]-remoteUserrank"
                rf"\[\d+\]-remote_ip_addr\[(?P<remote_ip>{IP})\]"
            ),
        ),
        explanation="Link setup to the peer NPU failed: check the peer rank's log first.",
        next_check="the peer rank's log; hccn_tool -i <dev> -ping -g address {remote_ip}",
        samples=(
            (
                "EI0009: [PID: 2225827] 2025-09-24-20:59:48.119.066 Transport init error. Reason: "
                "[Create][DestLink]Create Dest error! createLink para:rank[1]-localUserrank[1]-"
                "localIpAddr[172.16.0.114], dst_rank[0]-remoteUserrank[0]-remote_ip_addr"
                "[172.16.0.114]"
            ),
        ),
    ),
    Rule(
        id="socket_wait_timeout",
        cause="socket_timeout",
        code="EI0006",
        phase="connect",
        title="rank {rank} timed out after {timeout_s} s waiting for its links (role {role_name})",
        patterns=(
            (
                r"wait socket establish timeout, role\[(?P<role>\d+)\] rank\[(?P<rank>\d+)\] "
                r"timeout\[(?P<timeout_s>\d+)"
            ),
        ),
        context=(r"comm error, device\[(?P<device_id>\d+)\]",),
        explanation="The peer did not connect within HCCL_CONNECT_TIMEOUT.",
        next_check="the LINK_ERROR_INFO table beside it names the peer; check that rank's log",
        samples=(
            (
                "[ERROR] HCCL(17528,python3):2026-03-18-10:33:52.113.403 [hccl_socket_manager.cc:"
                "797] [18744][Wait][LinkEstablish]wait socket establish timeout, role[1] rank[1] "
                "timeout[120 s]"
            ),
        ),
    ),
    Rule(
        id="exec_socket_timeout",
        cause="socket_timeout",
        code="EI0006",
        phase="exec",
        title="a peer rank stopped sending data (execution timeout)",
        patterns=(r"Getting socket times out\. Reason: Remote Rank did not send the data in time",),
        explanation="The link was up, but a remote rank got stuck or died during a collective.",
        next_check="find the rank that stopped first (its own log); raise HCCL_EXEC_TIMEOUT only "
        "if it is slow, not dead",
        samples=(
            (
                "EI0006: [PID: 1292363] 2025-04-08-18:07:20.444.436 Getting socket times out. "
                "Reason: Remote Rank did not send the data in time. Please check the reason for "
                "the rank being stuck"
            ),
        ),
    ),
    Rule(
        id="connect_socket_timeout",
        cause="socket_timeout",
        code="EI0006",
        phase="connect",
        title="HCCL link setup timed out (a peer never connected)",
        patterns=(r"Getting socket times out", r"Get_Socket_Timeout\(EI0006\)"),
        explanation="A remote NPU never connected: not started in time, crashed, unreachable, or TLS differs.",
        next_check="the ranks with other errors; ping matrix of the pair; hccn_tool -tls -g",
        samples=(
            (
                "[PID: 749] 2025-12-29-03:16:15.787.356 Get_Socket_Timeout(EI0006): Getting "
                "socket times out. Reason: 1. The remote does not initiate a connect request."
            ),
        ),
    ),
    Rule(
        id="hccl_exec_timeout",
        cause="hccl_exec_timeout",
        code=None,
        phase="exec",
        title="HCCL task timed out on device {device_id} ({timeout})",
        patterns=(
            (
                r"device\(chipId:(?P<device_id>\d+), dieId:\d+\).*hccl \w+ task timeout "
                r"occurred.*timeout:(?P<timeout>[^,.\[]+)"
            ),
            r"(?i)hccl \w+ task timeout",
        ),
        explanation="A collective did not finish within HCCL_EXEC_TIMEOUT: a rank is stuck or dead.",
        next_check="find the rank that stopped first; HCCL_EXEC_TIMEOUT",
        samples=(
            (
                "EI9999: 2024-10-21-10:42:00.358.410  The error from device(chipId:3, dieId:0), "
                "serial number is 9, hccl fftsplus task timeout occurred during task execution, "
                "stream_id:5, sq_id:5, task_id:38827, stuck notify num:1, timeout:30min(default)."
            ),
        ),
    ),
    # ------------------------------------------------------------------ rendezvous (host side)
    Rule(
        id="c10d_connect_timeout",
        cause="c10d_timeout",
        code=None,
        phase="rendezvous",
        title="torch.distributed store at {host}:{port} not reached within {timeout_s} s",
        patterns=(
            (
                r"client socket has timed out after (?P<timeout_ms>\d+)ms while trying to "
                r"connect to \((?P<host>[^,]+), (?P<port>\d+)\)"
            ),
        ),
        explanation="The rank could not reach MASTER_ADDR:MASTER_PORT: rank 0 not started, "
        "wrong address, or a firewall.",
        next_check="is rank 0 running? can this server reach {host}:{port} (nc -zv)?",
        samples=(
            (
                "[E306 00:03:07.842961975 socket.cpp:1011] [c10d] The client socket has timed "
                "out after 60000ms while trying to connect to (xx.xx.xx.12, 29400)."
            ),
        ),
    ),
    Rule(
        id="c10d_wait_timeout",
        cause="c10d_timeout",
        code=None,
        phase="rendezvous",
        title="torch.distributed store wait timed out after {timeout_s} s",
        patterns=(
            (
                r"\[c10d\] waitForInput: socket .*remote=\[?(?:::ffff:)?(?P<host>[^\]\s]*)\]?:"
                r"(?P<port>\d+)\) timed out after (?P<timeout_ms>\d+)ms"
            ),
            r"store->get\('?(?P<key>[^')]*)'?\) got error: Socket Timeout",
            r"\[c10d\].*timed out after (?P<timeout_ms>\d+)ms",
        ),
        explanation="Some rank never reached the same point (it crashed, hangs or was not started).",
        next_check="the ranks that exited or went silent first",
        samples=(
            (
                "[rank6]:[W806 22:23:09.971726955 socket.cpp:487] [c10d] waitForInput: socket "
                "SocketImpl(fd=109, addr=[::ffff:7.150.11.200]:38930, remote=[::ffff:7.150.11.200]:"
                "47904) timed out after 1800000ms"
            ),
        ),
    ),
    Rule(
        id="gloo_timeout",
        cause="gloo_timeout",
        code=None,
        phase="rendezvous",
        title="gloo timed out{timeout_text}",
        patterns=(
            r"Gloo connectFullMesh failed",
            r"\[gloo.*\] Timed out waiting (?P<timeout_ms>\d+)ms",
            r"Timed out waiting (?P<timeout_ms>\d+)ms for (?:recv|send) operation",
        ),
        explanation="A gloo peer did not answer: wrong GLOO_SOCKET_IFNAME, a firewall, or a dead rank.",
        next_check="GLOO_SOCKET_IFNAME on every server; the peer's log",
        samples=(
            (
                "RuntimeError: [../third_party/gloo/gloo/transport/tcp/pair.cc:598] Connection "
                "closed by peer; Gloo connectFullMesh failed with ..."
            ),
        ),
    ),
    Rule(
        id="probe_missing_ranks",
        cause="rendezvous_missing_rank",
        code=None,
        phase="rendezvous",
        title="{who} never joined the rendezvous at {host}:{port}",
        patterns=(
            (
                r"(?P<who>ranks? [\d,\- ]+) never joined within (?P<timeout_s>[\d.]+) s at "
                r"(?P<host>[^\s:]+):(?P<port>\d+)"
            ),
            r"rank (?P<rank>\d+) could not reach the master at (?P<host>[^\s:]+):(?P<port>\d+)",
        ),
        explanation="Those ranks were not started, died early, or cannot reach MASTER_ADDR.",
        next_check="the missing ranks' own logs",
        samples=("rank 3 never joined within 120 s at 10.0.0.1:29500 (3 of 4 checked in)",),
    ),
    # ------------------------------------------------------------------ the rank's python
    Rule(
        id="python_no_torch",
        cause="python_env",
        code=None,
        phase="config",
        title="the rank's python has no torch{python_text}",
        patterns=(
            r"torch is not installed on host (?P<host>[^\s(]+) \((?P<python>[^)\s]+)\)",
            r"torch is not installed",
            r"ModuleNotFoundError: No module named 'torch'",
        ),
        explanation="The python that ran the rank (the first python3 on PATH of a non-interactive "
        "SSH shell) cannot import torch.",
        next_check="put a python with torch first on PATH with a setup line, e.g. --setup "
        "'source /path/to/venv/bin/activate'; check: ssh SERVER python3 -c 'import torch'",
        samples=(
            "probe[rank 6 on vm]: error: torch is not installed on host vm (/usr/bin/python3); put a "
            "python with torch first on PATH with a setup line",
            "ModuleNotFoundError: No module named 'torch'",
        ),
    ),
    Rule(
        id="python_no_torch_npu",
        cause="python_env",
        code=None,
        phase="config",
        title="the rank's python has no torch_npu",
        patterns=(r"ModuleNotFoundError: No module named 'torch_npu'",),
        explanation="The python that ran the rank cannot import torch_npu (the Ascend adapter of torch).",
        next_check="put a python with torch_npu first on PATH with a setup line, e.g. --setup "
        "'source /path/to/venv/bin/activate'; check: ssh SERVER python3 -c 'import torch_npu'",
        samples=("ModuleNotFoundError: No module named 'torch_npu'",),
    ),
    # ------------------------------------------------------------------ wrappers (generic)
    Rule(
        id="hccl_api_error",
        cause="hccl_error",
        code=None,
        phase="unknown",
        generic=True,
        title="{func} failed with HCCL error code {errno}",
        patterns=(
            r"HCCL function error: (?P<func>\w+)\(.*error code is (?P<errno>\d+)",
            r"OPS function error: (?P<func>\w+), error code is (?P<errno>\d+)",
        ),
        explanation="torch_npu's wrapper around an HCCL call; the real cause is in the CANN logs "
        "(plog) of this or another rank.",
        next_check="grep -r ERROR ~/ascend/log/debug/plog on every server",
        samples=(
            (
                "RuntimeError: InnerRunOpApi:torch_npu/csrc/framework/OpParamMaker.cpp:281 OPS "
                "function error: HcclAllreduce, error code is 6"
            ),
        ),
    ),
)

RULE_IDS: frozenset[str] = frozenset(r.id for r in RULES)
