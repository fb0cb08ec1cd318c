"""The shell scripts discovery sends, and the marker-delimited output they print.

Discovery costs two round trips per server, each ONE channel running a short POSIX shell
script: first the server and its cards (hostname, npu-smi, versions, hccn.conf), then every
device's NIC facts (hccn_tool per device, serially: hccn_tool answers "busy" to concurrent
calls). Each command's output is framed by explicit markers carrying a random token, so
splitting never guesses; busy answers are retried with backoff.

hccn_tool can hang on a sick card, so every call is bounded by ``tool_timeout``: a hung call
is killed (exit status 124) and the rest of that device's queries are skipped; the other
devices go on. A hung ``-lldp -g`` (where LLDP is off it may wait for a neighbour) skips the
LLDP query of the server's remaining devices: one timeout a server, not one per device.
The bound is ONE watchdog loop per script (a background shell that wakes every
``tool_timeout / 2`` seconds), not a ``timeout`` process per call: that wrapper (a fork and an
exec per call, ~50 calls a server) cost ~1 ms of CPU a call, about what the call itself costs
with the simulator's tools (measured with bench/discovery.py). The script
numbers its calls and notes the latest in a private ``mktemp -d`` folder (in /dev/shm when
it can: a call's output file there costs less than on disk); the watchdog, seeing the same
number at three wake-ups in a row (a call running for T to 1.5 T), signals
the script; its trap flags that call, and the script kills it only if the signal interrupted
the wait for that very call (so it is the script's own child, not yet reaped); a late signal
for a call that already ended is ignored. Without ``mktemp`` each call falls back to
``timeout`` (or runs unbounded when that is missing too, or when ``tool_timeout`` <= 0).
A device's sections are printed in one write (fewer SSH packets than one per call).

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
if command -v hccn_tool >/dev/null 2>&1; then H=hccn_tool; else H="$R%(hccn_default)s"; fi
run() { n=$1; shift; printf '\n%%s BEGIN %%s\n' "$M" "$n"; "$@" 2>&1; rc=$?
  printf '\n%%s END %%s %%s\n' "$M" "$n" "$rc"; }
"""

# Round 2 only: the watchdog, one bounded hccn_tool call (``call``: sets out and rc), the
# retrying, skipping ``hccn`` that buffers its section, and ``flush`` (one write per device).
_DEVICE_PRELUDE = r"""NL='
'
HUNG=" "; LT=; BUF=; c=0; p=; S=; WD=; TO=
W=; [ %(bounded)s = 1 ] && { W=$(mktemp -d /dev/shm/ccdisc.XXXXXX 2>/dev/null || mktemp -d 2>/dev/null) || W=; }
if [ -n "$W" ]; then
  trap '[ -n "$WD" ] && { kill "$WD" 2>/dev/null; wait "$WD"; }; rm -rf "$W"' EXIT
  trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
  trap 'read q <"$W/kill" 2>/dev/null; [ "$q" = "$c" ] && S=$c' USR1
  (
    s=; last=; n=0
    trap '[ -n "$s" ] && { kill "$s"; wait "$s"; } 2>/dev/null; exit 0' TERM
    while kill -0 $$ 2>/dev/null; do
      sleep %(half)s & s=$!; wait "$s"; s=
      read r <"$W/run" 2>/dev/null || r=
      if [ -n "$r" ] && [ "$r" = "$last" ]; then n=$((n+1)); else n=0; last=$r; fi
      [ "$n" -ge 2 ] && { echo "$r" >"$W/kill"; kill -USR1 $$; n=0; }
    done
  ) </dev/null >/dev/null 2>&1 &
  WD=$!
elif [ %(bounded)s = 1 ]; then
  command -v timeout >/dev/null 2>&1 && TO="timeout %(tool_timeout)s"
fi
call() {
  if [ -z "$W" ]; then out=$($TO "$H" "$@" 2>&1); rc=$?; return; fi
  c=$((c+1))
  "$H" "$@" >"$W/o" 2>&1 &
  p=$!
  echo "$c" >"$W/run"
  wait "$p"; rc=$?
  while [ "$rc" -gt 128 ] && kill -0 "$p" 2>/dev/null; do  # a signal interrupted the wait
    [ "$S" = "$c" ] && { kill "$p" 2>/dev/null; wait "$p"; rc=124; break; }
    wait "$p"; rc=$?
  done
  out=
  while IFS= read -r l || [ -n "$l" ]; do out="$out$l$NL"; done <"$W/o"
  while :; do case "$out" in *"$NL") out=${out%%"$NL"} ;; *) break ;; esac; done
}
hccn() {
  n=$1; d=$2; shift 2; k=0
  case "$HUNG" in *" $d "*)
    BUF="$BUF$NL$M BEGIN $n${NL}skipped: hccn_tool timed out earlier on device $d$NL$M END $n 124$NL"; return;;
  esac
  case "$LT/$n" in 1/lldp:*)
    BUF="$BUF$NL$M BEGIN $n${NL}skipped: hccn_tool -lldp timed out earlier on this server$NL$M END $n 124$NL"; return;;
  esac
  while :; do
    call "$@"
    case "$out" in *"is busy"*) k=$((k+1)); [ $k -lt %(retries)s ] && { sleep "0.$((k*2))"; continue; } ;; esac
    break
  done
  [ "$rc" = 124 ] && { HUNG="$HUNG$d "; case "$n" in lldp:*) LT=1;; esac; }
  BUF="$BUF$NL$M BEGIN $n$NL$out$NL$M END $n $rc$NL"
}
flush() { printf '%%s' "$BUF"; BUF=; }
"""


class Section(BaseModel):
    """One command's output as the server printed it, and its exit status."""

    name: str
    output: str
    exit_status: int | None


def prelude(marker: str) -> str:
    return _PRELUDE % {"marker": shlex.quote(marker), "hccn_default": HCCN_DEFAULT}


def device_prelude(*, tool_timeout: float = 5, retries: int = 5) -> str:
    """The round-2 helpers; ``tool_timeout`` <= 0 leaves the calls unbounded (``timeout 0``)."""
    bounded = tool_timeout > 0
    return _DEVICE_PRELUDE % {
        "tool_timeout": f"{tool_timeout:g}",
        "retries": int(retries),
        "half": f"{tool_timeout / 2:g}" if bounded else "1",
        "bounded": int(bounded),
    }


def server_script(marker: str) -> str:
    """Round trip 1: the server, its cards and chips, versions, hccn.conf (no hccn_tool
    query: ``_kw`` takes the same options as ``devices_script`` for symmetry)."""
    return prelude(marker) + "\n".join(
        [
            "run hostname hostname",
            'run hccn_path command -v "$H"',
            "run npu_l npu-smi info -l",
            "run npu_m npu-smi info -m",
            "run npu_info npu-smi info",
            'run hccn_conf cat "$R/etc/hccn.conf"',
            "run host_ip ip -o -4 addr show",
            'run driver cat "$R/usr/local/Ascend/driver/version.info"',
            'run cann cat "$R"/usr/local/Ascend/ascend-toolkit/latest/*-linux/ascend_toolkit_install.info',
            "",
        ]
    )


DEVICE_QUERIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ip", ("-ip", "-g")),
    ("link", ("-link", "-g")),
    ("net_health", ("-net_health", "-g")),
    ("tls", ("-tls", "-g")),
    ("gateway", ("-gateway", "-g")),
    ("netdetect", ("-netdetect", "-g")),
    ("lldp", ("-lldp", "-g")),  # last: many sites turn LLDP off; its answer is optional
)
A3_QUERIES: tuple[tuple[str, tuple[str, ...]], ...] = (("vnic", ("-vnic", "-g")),)


def device_command(device_id: int, args: tuple[str, ...]) -> str:
    """The command as an operator would type it (what failures quote)."""
    return shlex.join(["hccn_tool", "-i", str(device_id), *args])


def spod_command(card: int, chip: int) -> str:
    return f"npu-smi info -t spod-info -i {int(card)} -c {int(chip)}"


def devices_script(
    marker: str,
    device_ids: list[int],
    *,
    a3: bool = False,
    cards: dict[int, tuple[int, int]] | None = None,
    tool_timeout: float = 5,
    retries: int = 5,
) -> str:
    """Round trip 2: every device's NIC facts, one hccn_tool call at a time; on A3 also each
    die's SuperPoD ids (``cards``: device id -> (card, chip)) for rank table 1.2."""
    queries = DEVICE_QUERIES + (A3_QUERIES if a3 else ())
    lines = [prelude(marker) + device_prelude(tool_timeout=tool_timeout, retries=retries)]
    for dev in device_ids:
        for name, args in queries:
            lines.append(f"hccn {name}:{int(dev)} {int(dev)} -i {int(dev)} {shlex.join(args)}")
        lines.append("flush")
        if a3 and cards and dev in cards:
            lines.append(f"run spod:{int(dev)} {spod_command(*cards[dev])}")
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
        if m and name is not None and name == m.group(1):
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
