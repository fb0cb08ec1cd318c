"""The shell scripts discovery sends, and the marker-delimited output they print.

Discovery costs two round trips per server, each ONE channel running a short POSIX shell
script: first the server and its cards (hostname, npu-smi, versions, hccn.conf), then every
device's NIC facts (hccn_tool per device, serially: hccn_tool answers "busy" to concurrent
calls). Each command's output is framed by explicit markers carrying a random token, so
splitting never guesses; each hccn_tool call is wrapped in ``timeout`` because the tool can
hang on a sick card, and retried with backoff when it says it is busy.

Files are read below ``${CLUSTER_CONSOLE_ROOT:-}`` (unset on real servers; the simulator
points it at each simulated server's root folder).
"""

from __future__ import annotations

import re
import shlex

from pydantic import BaseModel

HCCN_DEFAULT = "/usr/local/Ascend/driver/tools/hccn_tool"

_PRELUDE = r"""R="${CLUSTER_CONSOLE_ROOT:-}"
M=%(marker)s
TO=""; command -v timeout >/dev/null 2>&1 && TO="timeout %(tool_timeout)s"
H=$(command -v hccn_tool 2>/dev/null || true)
[ -n "$H" ] || H="$R%(hccn_default)s"
run() { n=$1; shift; printf '\n%%s BEGIN %%s\n' "$M" "$n"; "$@" 2>&1; rc=$?; printf '\n%%s END %%s %%s\n' "$M" "$n" "$rc"; }
HUNG=" "
hccn() {
  n=$1; d=$2; shift 2; k=0
  case "$HUNG" in *" $d "*)
    printf '\n%%s BEGIN %%s\nskipped: hccn_tool timed out earlier on device %%s\n%%s END %%s 124\n' "$M" "$n" "$d" "$M" "$n"; return;;
  esac
  while :; do
    out=$($TO "$H" "$@" 2>&1); rc=$?
    case "$out" in *"is busy"*) k=$((k+1)); [ $k -lt %(retries)s ] && { sleep "0.$((k*2))"; continue; } ;; esac
    break
  done
  [ "$rc" = 124 ] && HUNG="$HUNG$d "
  printf '\n%%s BEGIN %%s\n%%s\n%%s END %%s %%s\n' "$M" "$n" "$out" "$M" "$n" "$rc"
}
"""


class Section(BaseModel):
    """One command's output as the server printed it, and its exit status."""

    name: str
    output: str
    exit_status: int | None


def prelude(marker: str, *, tool_timeout: float = 5, retries: int = 5) -> str:
    return _PRELUDE % {
        "marker": shlex.quote(marker),
        "tool_timeout": tool_timeout,
        "hccn_default": HCCN_DEFAULT,
        "retries": retries,
    }


def server_script(marker: str, **kw: float) -> str:
    """Round trip 1: the server, its cards and chips, versions, hccn.conf."""
    return prelude(marker, **kw) + "\n".join([
        "run hostname hostname",
        "run hccn_path echo \"$H\"",
        "run npu_l npu-smi info -l",
        "run npu_m npu-smi info -m",
        "run npu_info npu-smi info",
        "run hccn_conf cat \"$R/etc/hccn.conf\"",
        "run driver cat \"$R/usr/local/Ascend/driver/version.info\"",
        "run cann sh -c 'cat \"$1\"/usr/local/Ascend/ascend-toolkit/latest/*-linux/ascend_toolkit_install.info' sh \"$R\"",
        "",
    ])


DEVICE_QUERIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ip", ("-ip", "-g")),
    ("link", ("-link", "-g")),
    ("net_health", ("-net_health", "-g")),
    ("tls", ("-tls", "-g")),
    ("gateway", ("-gateway", "-g")),
    ("netdetect", ("-netdetect", "-g")),
)
A3_QUERIES: tuple[tuple[str, tuple[str, ...]], ...] = (("vnic", ("-vnic", "-g")),)


def device_command(device_id: int, args: tuple[str, ...]) -> str:
    """The command as an operator would type it (what failures quote)."""
    return shlex.join(["hccn_tool", "-i", str(device_id), *args])


def devices_script(marker: str, device_ids: list[int], *, a3: bool = False, **kw: float) -> str:
    """Round trip 2: every device's NIC facts, one hccn_tool call at a time."""
    queries = DEVICE_QUERIES + (A3_QUERIES if a3 else ())
    lines = [prelude(marker, **kw)]
    for dev in device_ids:
        for name, args in queries:
            lines.append(f"hccn {name}:{int(dev)} {int(dev)} -i {int(dev)} {shlex.join(args)}")
    return "\n".join(lines) + "\n"


def split_sections(text: str, marker: str) -> dict[str, Section]:
    """Cut a script's output at its markers. Text outside markers is ignored (login banners)."""
    begin = re.compile(rf"^{re.escape(marker)} BEGIN (\S+)$")
    end = re.compile(rf"^{re.escape(marker)} END (\S+) (-?\d+)$")
    sections: dict[str, Section] = {}
    name: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        m = begin.match(line)
        if m:
            name, body = m.group(1), []
            continue
        m = end.match(line)
        if m and name == m.group(1):
            out = "\n".join(body).strip("\n")
            sections[name] = Section(name=name, output=out + ("\n" if out else ""), exit_status=int(m.group(2)))
            name = None
            continue
        if name is not None:
            body.append(line)
    if name is not None:  # cut off (timeout, lost connection): keep what arrived
        out = "\n".join(body).strip("\n")
        sections[name] = Section(name=name, output=out + ("\n" if out else ""), exit_status=None)
    return sections
