"""The SSH client layer (design.md §3): the only asyncssh importer besides console.sim.

    async with Pool(SSHOptions.from_args(args)) as pool:
        result = await pool.run("node1", quote_cmd("hccn_tool", "-i", 0, "-ip", "-g"))

One connection per server, reused; limits on handshakes and channels; host keys checked
against known_hosts; every failure is a ``console.core.errors.RemoteError``.
"""

from . import sshconfig
from .budget import OutputBudget
from .options import HostSpec, SSHOptions, parse_target, resolve
from .pool import Pool
from .process import CommandResult, RemoteProcess, StreamExit, StreamLine, quote_cmd

__all__ = [
    "CommandResult",
    "HostSpec",
    "OutputBudget",
    "Pool",
    "RemoteProcess",
    "SSHOptions",
    "StreamExit",
    "StreamLine",
    "parse_target",
    "quote_cmd",
    "resolve",
    "sshconfig",
]
