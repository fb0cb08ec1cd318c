"""Peak memory of the console side of a remote command, measured in a process of its own.

``python -m tests.memory run OPTIONS_JSON HOST COMMAND`` runs ``Pool.run(HOST, COMMAND)``
with ``SSHOptions(**OPTIONS_JSON)`` and prints one JSON object: the error (title, host,
command, exit code) or the output sizes, and ``hwm_mb``, this process's peak resident set
(VmHWM). ``python -m tests.memory exec ARGV...`` runs ARGV as a child and prints
``{"rc", "maxrss_mb"}``: the child's peak RSS (``getrusage(RUSAGE_CHILDREN)``). Tests assert
on these figures: memory, not time.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys


def vm_hwm_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


async def _run(options: dict, host: str, command: str) -> dict:
    from console.core.errors import ConsoleError
    from console.remote import Pool, SSHOptions

    async with Pool(SSHOptions(**options)) as pool:
        try:
            result = await pool.run(host, command)
        except ConsoleError as exc:
            return {
                "error": exc.title,
                "type": type(exc).__name__,
                "host": exc.host,
                "command": exc.command,
                "exit_code": exc.exit_code,
                "text": str(exc),
            }
    return {"stdout": len(result.stdout), "stderr": len(result.stderr)}


def main(argv: list[str]) -> int:
    if argv[0] == "run":
        out = asyncio.run(_run(json.loads(argv[1]), argv[2], argv[3]))
        out["hwm_mb"] = vm_hwm_mb()
    elif argv[0] == "exec":
        proc = subprocess.run(argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        out = {
            "rc": proc.returncode,
            "stderr": proc.stderr.decode("utf-8", "replace")[-4000:],
            "maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        }
    else:
        raise SystemExit(f"unknown mode {argv[0]!r}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
