"""metadata.json's JSON Schema (draft 2020-12), loaded once from package data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from itertools import islice
from typing import Any

from jsonschema import Draft202012Validator

METADATA = "metadata.json"
MAX_SCHEMA_PROBLEMS = 5


@cache
def metadata_validator() -> Draft202012Validator:
    resource = files("osbundle") / "schemas" / "metadata.schema.json"
    return Draft202012Validator(json.loads(resource.read_text(encoding="utf-8")))


def metadata_schema_problems(document: Mapping[str, Any]) -> list[str]:
    """At most MAX_SCHEMA_PROBLEMS one-line messages, empty when the document is schema-valid."""
    errors = islice(metadata_validator().iter_errors(document), MAX_SCHEMA_PROBLEMS)
    out = []
    for error in sorted(errors, key=_document_order):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        message = " ".join(error.message.split())
        message = message if len(message) <= 160 else message[:157] + "..."
        out.append(f"{METADATA} does not match its schema at {where or '(root)'}: {message}")
    return out


def _document_order(error: Any) -> list[tuple[int, int, str]]:
    return [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path]
