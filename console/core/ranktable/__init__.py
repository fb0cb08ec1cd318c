"""RankTableFile (HCCL ranktable JSON, versions 1.0 and 1.2): model, text codec, validation,
planner, merge. Pure: no file I/O (see ``console.ops.ranktable_files``)."""

from console.core.ranktable.against import validate_against
from console.core.ranktable.merge import merge, renumber, subset_note, subset_table
from console.core.ranktable.model import (
    SUPPORTED_VERSIONS,
    RankDevice,
    RankServer,
    RankTable,
    SuperPod,
    SuperPodServer,
)
from console.core.ranktable.planner import build
from console.core.ranktable.text import RankTableInvalid, dumps, json_schema, loads, to_disk
from console.core.ranktable.validate import validate

__all__ = [
    "SUPPORTED_VERSIONS",
    "RankDevice",
    "RankServer",
    "RankTable",
    "RankTableInvalid",
    "SuperPod",
    "SuperPodServer",
    "build",
    "dumps",
    "json_schema",
    "loads",
    "merge",
    "renumber",
    "subset_note",
    "subset_table",
    "to_disk",
    "validate",
    "validate_against",
]
