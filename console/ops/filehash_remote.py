"""The sha256 of a file, never through a symlink. Runs ON a server (and locally).

STDLIB ONLY, Python >= 3.6. One text for both helpers sent to the servers: it is the first
part of the host agent's program (``agentlink.AGENT_PARTS``) and is put before
``rundir_remote.py`` (``rundir.helper_source``); imported in-process.
"""

import hashlib
import os


def file_sha256(path):
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    digest = hashlib.sha256()
    try:
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()
