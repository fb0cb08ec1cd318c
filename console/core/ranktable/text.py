"""RankTableFile text in (:func:`loads`) and out (:func:`dumps`), and the on-disk JSON Schema.

Pure: no file I/O here (see ``console.ops.ranktable_files``). Text that is not JSON, or is
nested too deeply, is an :class:`InputError` (exit 2) naming the source and the line and
column; JSON that breaks the schema is :class:`RankTableInvalid` (exit 1) with every problem
at its JSON path (``server_list[0].device[1].rank_id``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from console.core.diagnostic import Diagnostic
from console.core.errors import CheckFailed, InputError, json_path
from console.core.ranktable.model import RankTable
from console.core.ranktable.problems import JsonPath, describe, error, sort_problems
from console.core.ranktable.problems import dev as device_path

_MAX_LISTED = 20
ROOT = "$"
"""JSON path of the whole document."""
_NUMBER_KEYS = ("device_id", "device_port", "host_port", "backup_device_port", "super_device_id", "rank_id")

# Other rank-table shapes we recognise (ascend.md §3.3, §3.4) and refuse by name.
_OTHER_SHAPES = (
    (
        "rank_list",
        "a version 2.0 rank table (rank_list: Ascend 950 / Atlas 350/850/950)",
        "this console handles versions 1.0 and 1.2 (server_list) for Atlas A2/A3",
    ),
    (
        "group_list",
        "an hccl-controller v1 rank table (group_list, old Ascend 910 Kubernetes)",
        "regenerate it in the 1.0 format (server_list with rank_id), e.g. with `ranktable build`",
    ),
    (
        "server_group_list",
        "a MindIE Motor PD-disaggregation global rank table (server_group_list)",
        "validate each group's server_list as its own rank table",
    ),
    (
        "prefill_device_list",
        "a vllm-ascend llmdatadist PD rank table (prefill_device_list/decode_device_list)",
        "that format is read by vllm-ascend's old PD connector only",
    ),
    (
        "decode_device_list",
        "a vllm-ascend llmdatadist PD rank table (prefill_device_list/decode_device_list)",
        "that format is read by vllm-ascend's old PD connector only",
    ),
)


MAX_DEPTH = 32
"""Deepest nesting of objects and arrays read (a rank table needs 5 levels)."""


class RankTableInvalid(CheckFailed):
    """JSON that breaks the RankTableFile schema: every problem at its JSON path. Exit 1, like
    any other invalid table (``ranktable validate`` prints the problems as it prints the rules')."""

    def __init__(self, source: str, problems: list[Diagnostic]) -> None:
        listed = [describe(p) for p in problems[:_MAX_LISTED]]
        if len(problems) > _MAX_LISTED:
            listed.append(f"+{len(problems) - _MAX_LISTED} more")
        super().__init__(
            "not a valid rank table",
            "\n  " + "\n  ".join(listed),
            path=source,
            hint=f"`cluster-console ranktable validate {source}` lists every problem; "
            "`cluster-console ranktable schema` prints the format",
        )
        self.problems = problems


def loads(text: str, source: str = "FILE") -> RankTable:
    """Parse a RankTableFile (version 1.0 or 1.2).

    Raises InputError (exit 2) naming ``source`` when the text is not JSON or is nested too
    deeply, and RankTableInvalid (exit 1) listing every schema problem at its JSON path."""
    data = _parse_json(text, source)
    problems = shape_problems(data)
    if not problems:
        try:
            table = RankTable.model_validate(data)
        except ValidationError as exc:
            problems = [_schema_problem(err) for err in exc.errors(include_url=False)]
        else:
            table._json_numbers = tuple(_json_number_paths(data))
            return table
    raise RankTableInvalid(source, sort_problems(problems))


def _schema_problem(err: Any) -> Diagnostic:
    where = _located(err["loc"], json_path(err["loc"]) or ROOT)
    field = str(err["loc"][-1]) if err["loc"] else "the table"
    if err["type"] == "missing":
        return error(where, "field_missing", f"{field} is missing: the format requires it")
    msg = err["msg"].removeprefix("Value error, ")
    if "input" in err and not isinstance(err["input"], (dict, list)) and "got" not in msg:
        msg = f"{msg}; got {json.dumps(err['input'], default=str)[:60]}"
    return error(where, "field_invalid", f"{field}: {msg}")


def _located(loc: tuple[Any, ...], text: str) -> str:
    """``text`` as a ``JsonPath`` carrying the server and device indices of pydantic's ``loc``
    (``('server_list', 0, 'device', 1, 'rank_id')``) when it points into server_list."""
    if len(loc) < 2 or loc[0] != "server_list" or not isinstance(loc[1], int):
        return text
    device = loc[3] if len(loc) > 3 and loc[2] == "device" and isinstance(loc[3], int) else None
    rest = loc[4:] if device is not None else loc[2:]
    field = str(rest[0]) if len(rest) == 1 else None
    return JsonPath.of(text, loc[1], device, field)


def _parse_json(text: str, source: str) -> Any:
    try:
        data = json.loads(text)
    except RecursionError:
        raise _too_deep(source) from None
    except json.JSONDecodeError as exc:
        hint = None
        if not text.strip():
            hint = "the file is empty"
        elif "//" in text or "/*" in text:
            hint = "JSON must not contain comments (the comments in HCCL's docs are illustrative)"
        raise InputError(
            f"not valid JSON at line {exc.lineno}, column {exc.colno}",
            exc.msg,
            path=source,
            hint=hint,
            line=exc.lineno,
            column=exc.colno,
        ) from None
    if _depth(data) > MAX_DEPTH:
        raise _too_deep(source)
    return data


def _too_deep(source: str) -> InputError:
    return InputError(
        "not a rank table",
        f"nested too deeply (more than {MAX_DEPTH} levels of objects and arrays; a rank table has 5)",
        path=source,
    )


def _depth(data: Any) -> int:
    """Deepest nesting of ``data``, counted without recursion (stops past MAX_DEPTH)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            stack.extend((v, level + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def shape_problems(data: Any) -> list[Diagnostic]:
    """Problems that stop the JSON from being read as a RankTableFile at all: not an object,
    another rank-table format (refused by name), no ``server_list``."""
    if not isinstance(data, dict):
        kinds: dict[type, str] = {list: "an array", str: "a string"}
        kind = kinds.get(type(data), "a scalar")
        return [error(ROOT, "not_an_object", f"the top level is {kind}; a rank table is an object with server_list")]
    for key, what, hint in _OTHER_SHAPES:
        if key in data:
            return [error(key, "format_unsupported", f"{what} is not supported: {hint}")]
    if "server_list" not in data:
        keys = ", ".join(list(data)[:8]) or "none"
        return [
            error(
                "server_list",
                "server_list_missing",
                f"server_list is missing (top-level keys: {keys}): "
                'a RankTableFile 1.0/1.2 has "status", "version", "server_count", "server_list"',
            )
        ]
    return []


def _is_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_number_paths(data: dict[str, Any]) -> list[str]:
    """Where the text held JSON numbers instead of strings (the table loaded, so shapes are sane)."""
    paths = ["server_count"] if _is_number(data.get("server_count")) else []
    for i, server in enumerate(data["server_list"]):
        for j, dev in enumerate(server["device"]):
            paths += [device_path(i, j, k) for k in _NUMBER_KEYS if _is_number(dev.get(k))]
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
            lists[name] = [
                _ordered(v, d) if isinstance(v, BaseModel) else d for v, d in zip(value, dumped[name], strict=True)
            ]
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
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "RankTableFile (HCCL ranktable, version 1.0 / 1.2)",
    }


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
