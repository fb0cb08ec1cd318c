"""Which values are secrets, and masking them (pure).

An environment variable is secret when its name contains TOKEN, SECRET, PASSWORD, PASSWD, KEY,
CREDENTIAL or AUTH (case-insensitive), except the well-known non-secrets ``MASTER_*``
(MASTER_ADDR, MASTER_PORT, ...). Masked values read ``***``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "AUTH")
NOT_SECRET_PREFIXES = ("MASTER_",)
_ASSIGN = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)=('[^']*'|\"[^\"]*\"|\S+)")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE "
    r"KEY-----|\Z)",
    re.DOTALL,
)


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    if upper.startswith(NOT_SECRET_PREFIXES):
        return False
    return any(word in upper for word in SECRET_WORDS)


def mask_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: (MASK if is_secret_name(k) and v else v) for k, v in env.items()}


def secret_values(doc: Any) -> set[str]:
    """Every non-empty string stored under a secret-looking key anywhere in ``doc``."""
    found: set[str] = set()
    if isinstance(doc, Mapping):
        for k, v in doc.items():
            if isinstance(k, str) and is_secret_name(k) and isinstance(v, str) and v and v != MASK:
                found.add(v)
            else:
                found |= secret_values(v)
    elif isinstance(doc, (list, tuple)):
        for v in doc:
            found |= secret_values(v)
    return found


def mask_text(text: str, values: Iterable[str] = ()) -> str:
    """``NAME=value`` assignments of secret names, the given secret values wherever they appear,
    and PEM private-key blocks, masked."""
    for v in sorted({v for v in values if len(v) >= 3}, key=len, reverse=True):
        text = text.replace(v, MASK)
    text = _ASSIGN.sub(lambda m: f"{m.group(1)}={MASK}" if is_secret_name(m.group(1)) else m.group(0), text)
    return _PRIVATE_KEY.sub("[private key removed]", text)


_TOKEN_SHAPES = (
    re.compile(r"(?i)(\bauthorization\s*[:=]\s*[\"']?(?:bearer|basic|token)\s+)[^\s\"',;]+"),
    re.compile(r"(?i)(\b(?:bearer)\s+)[A-Za-z0-9._~+/=-]{16,}"),
    re.compile(r"()\bhf_[A-Za-z0-9]{20,}\b"),
)


def mask_token_shapes(text: str) -> str:
    """Common token shapes whatever their name: ``Authorization: Bearer ...`` (and Basic /
    Token), ``Bearer <long token>``, Hugging Face ``hf_...`` tokens."""
    for shape in _TOKEN_SHAPES:
        text = shape.sub(lambda m: m.group(1) + MASK, text)
    return text


def mask_document(doc: Any, values: Iterable[str] = ()) -> Any:
    """A JSON-like document with secret-named keys' values masked and every string masked by
    ``mask_text``."""
    vals = tuple(values)
    if isinstance(doc, Mapping):
        return {
            k: (
                MASK
                if isinstance(k, str) and is_secret_name(k) and isinstance(v, str) and v
                else mask_document(v, vals)
            )
            for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [mask_document(v, vals) for v in doc]
    if isinstance(doc, str):
        return mask_text(doc, vals)
    return doc
