"""Code that runs ON the servers inside a rank: stdlib + torch (+ torch_npu) only.

Nothing here imports the rest of ``console``. To run the probe, upload every file of
:data:`SHIP_FILES` into ONE remote directory and start ``python3 <dir>/probe.py [args]`` per
rank (probe.py loads its siblings by path; there is no package on the server).
"""

from __future__ import annotations

from pathlib import Path

SHIP_FILES = ("probe.py", "collectives.py", "tp_smoke.py")
"""Files to upload together, probe.py first (its entry point)."""


def ship_files() -> list[Path]:
    """Local paths of :data:`SHIP_FILES`."""
    here = Path(__file__).parent
    return [here / name for name in SHIP_FILES]
