"""RankTableFile text in (:func:`loads`) and out (:func:`dumps`), and the on-disk JSON Schema.

Pure: no file I/O here (see ``console.ops.ranktable_files``). Every refusal is an
:class:`InputError` naming the source and the JSON path (``server_list[0].device[1].rank_id``)
or the line and column.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from console.core.errors import InputError, describe_validation_error
from console.core.ranktable.model import RankTable

_MAX_LISTED = 20
_NUMBER_KEYS = ("device_id", "device_port", "host_port", "backup_device_port", "super_device_id", "rank_id")

# Other rank-table shapes we recognise (ascend.md §3.3, §3.4) and refuse by name.
_OTHER_SHAPES = (
    ("rank_list", "a version 2.0 rank table (rank_list: Ascend 950 / Atlas 350/850/950)",
     "this console handles versions 1.0 and 1.2 (server_list) for Atlas A2/A3"),
    ("group_list", "an hccl-controller v1 rank table (group_list, old Ascend 910 Kubernetes)",
     "regenerate it in the 1.0 format (server_list with rank_id), e.g. with `ranktable build`"),
    ("server_group_list", "a MindIE Motor PD-disaggregation global rank table (server_group_list)",
     "validate each group's server_list as its own rank table"),
    ("prefill_device_list", "a vllm-ascend llmdatadist PD rank table (prefill_device_list/decode_device_list)",
     "that format is read by vllm-ascend's old PD connector only"),
    ("decode_device_list", "a vllm-ascend llmdatadist PD rank table (prefill_device_list/decode_device_list)",
     "that format is read by vllm-ascend's old PD connector only"),
)


def loads(text: str, source: str = "FILE") -> RankTable:
    """Parse a RankTableFile (version 1.0 or 1.2). Raises InputError naming ``source``."""
    data = _parse_json(text, source)
    _check_shape(data, source)
    try:
        table = RankTable.model_validate(data)
    except ValidationError as exc:
        listed = describe_validation_error(exc, limit=_MAX_LISTED, sep="\n  ")
        raise InputError("not a valid rank table", "\n  " + listed, path=source,
                         hint="see `cluster-console ranktable schema` for the format") from None
    table._json_numbers = tuple(_json_number_paths(data))
    return table


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        hint = None
        if not text.strip():
            hint = "the file is empty"
        elif "//" in text or "/*" in text:
            hint = "JSON must not contain comments (the comments in HCCL's docs are illustrative)"
        raise InputError(f"not valid JSON at line {exc.lineno}, column {exc.colno}", exc.msg,
                         path=source, hint=hint) from None


def _check_shape(data: Any, source: str) -> None:
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string"}.get(type(data), "a scalar")
        raise InputError("not a rank table", f"the top level is {kind}; expected an object with server_list",
                         path=source)
    for key, what, hint in _OTHER_SHAPES:
        if key in data:
            raise InputError(f"unsupported rank table format: {what}", path=source, hint=hint)
    if "server_list" not in data:
        keys = ", ".join(list(data)[:8]) or "none"
        raise InputError("not a rank table: no server_list", f"top-level keys: {keys}", path=source,
                         hint='a RankTableFile 1.0/1.2 has "status", "version", "server_count", "server_list"')


def _is_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_number_paths(data: dict[str, Any]) -> list[str]:
    """Where the text held JSON numbers instead of strings (the table loaded, so shapes are sane)."""
    paths = ["server_count"] if _is_number(data.get("server_count")) else []
    for i, server in enumerate(data["server_list"]):
        for j, dev in enumerate(server["device"]):
            paths += [f"server_list[{i}].device[{j}].{k}" for k in _NUMBER_KEYS if _is_number(dev.get(k))]
    for k, pod in enumerate(data.get("super_pod_list") or ()):
        if _is_number(pod.get("super_pod_id")):
            paths.append(f"super_pod_list[{k}].super_pod_id")
    return paths


# ---- text out ---------------------------------------------------------------------------

def _ordered(model: BaseModel, dumped: dict[str, Any]) -> dict[str, Any]:
    """``dumped`` (model_dump in JSON mode) in canonical key order, unset optional fields left out."""
    scalars: dict[str, Any] = {}
    lists: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if value is None:
            continue
        if isinstance(value, list):
            lists[name] = [_ordered(v, d) if isinstance(v, BaseModel) else d for v, d in zip(value, dumped[name])]
        else:
            scalars[name] = dumped[name]
    extras = {k: dumped[k] for k in (model.model_extra or {})}
    return scalars | extras | lists


def to_disk(table: RankTable) -> dict[str, Any]:
    """The on-disk JSON object: numbers as strings, canonical key order."""
    return _ordered(table, table.model_dump(mode="json"))


def dumps(table: RankTable) -> str:
    """Canonical text: indent 2, numbers as strings, trailing newline."""
    return json.dumps(to_disk(table), indent=2, ensure_ascii=False) + "\n"


def json_schema() -> dict[str, Any]:
    """JSON Schema of the on-disk format (numbers are strings)."""
    schema = RankTable.model_json_schema(mode="serialization")
    schema = _drop_nulls(schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema,
            "title": "RankTableFile (HCCL ranktable, version 1.0 / 1.2)"}


def _drop_nulls(node: Any) -> Any:
    """Optional fields are absent on disk, never null: simplify pydantic's ``anyOf [X, null]``."""
    if isinstance(node, list):
        return [_drop_nulls(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _drop_nulls(v) for k, v in node.items() if not (k == "default" and v is None)}
    options = out.get("anyOf")
    if isinstance(options, list):
        kept = [o for o in options if o != {"type": "null"}]
        if len(kept) == 1:
            del out["anyOf"]
            out = kept[0] | out
    return out
