"""JSON Schema validation of a merged profile, turned into located, readable diagnostics."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from osbundle.diagnostics import Diagnostic, DocPath
from osbundle.profile.extends import Locator
from osbundle.resources import load_schema

PROFILE_SCHEMA = "profile.schema.json"
_WEAK = ("oneOf", "anyOf")
_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string"}


@cache
def profile_validator() -> Draft202012Validator:
    """The profile schema's validator, compiled once per process."""
    schema = load_schema(PROFILE_SCHEMA)
    return Draft202012Validator(fold_type_unions(inline_refs(schema, schema.get("$defs", {}))))


# Keywords that constrain only instances of one JSON type (others pass them trivially).
_TYPE_KEYWORDS: Mapping[str, frozenset[str]] = {
    "string": frozenset({"minLength", "maxLength", "pattern"}),
    "object": frozenset({"properties", "required", "additionalProperties"}),
}
_ANNOTATIONS = frozenset({"title", "description"})


def fold_type_unions(node: Any) -> Any:
    """Rewrite `oneOf` whose branches are each `type: <t>` with keywords that apply only to t,
    for distinct t, as one schema with `type: [t...]` and all the keywords: the same meaning,
    but no failing branch (and its exception) to build for every list item, twice as fast."""
    if isinstance(node, list):
        return [fold_type_unions(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: fold_type_unions(v) for k, v in node.items()}
    branches = out.get("oneOf")
    if not isinstance(branches, list) or not all(_single_type(b) for b in branches):
        return out
    types = [b["type"] for b in branches]
    if len(set(types)) != len(types):
        return out
    del out["oneOf"]
    for branch in branches:
        out.update({k: v for k, v in branch.items() if k not in _ANNOTATIONS and k != "type"})
    out["type"] = types
    return out


def _single_type(branch: Any) -> bool:
    if not isinstance(branch, dict) or branch.get("type") not in _TYPE_KEYWORDS:
        return False
    own = _TYPE_KEYWORDS[branch["type"]]
    return all(k in own or k in _ANNOTATIONS or k == "type" for k in branch)


def inline_refs(node: Any, defs: Mapping[str, Any]) -> Any:
    """`node` with every local `{"$ref": "#/$defs/x"}` replaced by x: same meaning, and it
    validates about a quarter faster, since jsonschema resolves a reference on every use."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if len(node) == 1 and isinstance(ref, str) and ref.startswith("#/$defs/"):
            return inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [inline_refs(v, defs) for v in node]
    return node


def schema_diagnostics(data: Any, locator: Locator) -> list[Diagnostic]:
    """Every schema error in `data`, one diagnostic each, in document order."""
    out: list[Diagnostic] = []
    for error in profile_validator().iter_errors(data):
        out.extend(_diagnose(_most_relevant(error), locator))
    return out


_INFINITE = "an infinite number (.inf, or one too large for a float, like 1e400)"


def nonfinite_diagnostics(data: Any, locator: Locator) -> list[Diagnostic]:
    """Every infinite or NaN number (`.inf`, `.nan`, `1e400`): JSON has none, so a profile
    value that reaches metadata.json as one would make a bundle `verify` refuses."""
    out: list[Diagnostic] = []
    stack: list[tuple[DocPath, Any]] = [((), data)] if isinstance(data, dict | list) else []
    while stack:  # only containers are stacked, and only their paths built
        path, node = stack.pop()
        for key, value in node.items() if isinstance(node, dict) else enumerate(node):
            if isinstance(value, float):
                if not math.isfinite(value):
                    out.append(_nonfinite((*path, key), value, locator))
            elif isinstance(value, dict | list):
                stack.append(((*path, key), value))
    return out


def _nonfinite(path: DocPath, value: float, locator: Locator) -> Diagnostic:
    mark = (located := locator.locate(path)).value_mark()
    what, word = ("NaN", "NaN") if math.isnan(value) else (_INFINITE, "infinity")
    message = f"{what} is not allowed: JSON, and so metadata.json, has no {word}"
    hint = "write a finite number, or quote the value to make it a string"
    return Diagnostic(located.file, mark.line, mark.col, path, message, hint)


def _schema_of(error: ValidationError) -> Mapping[str, Any]:
    return error.schema if isinstance(error.schema, Mapping) else {}


def _most_relevant(error: ValidationError) -> ValidationError:
    best = best_match([error])
    return best if best is not None else error


def _diagnose(error: ValidationError, locator: Locator) -> Iterator[Diagnostic]:
    path: DocPath = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        yield from _unknown_keys(error, path, locator)
        return
    located = locator.locate(path)
    mark = located.value_mark()
    hint = located.hint() if error.validator != "required" else None
    if hint is None:
        hint = _quote_hint(error)
    if hint is None and error.validator in ("pattern", "not"):
        hint = _schema_of(error).get("description")
    yield Diagnostic(located.file, mark.line, mark.col, path, _message(error), hint)


def _unknown_keys(error: ValidationError, path: DocPath, locator: Locator) -> Iterator[Diagnostic]:
    known = list(_schema_of(error).get("properties", {}))
    instance = error.instance if isinstance(error.instance, dict) else {}
    for key in instance:
        if key in known or _matches_pattern_properties(_schema_of(error), key):
            continue
        key_path = (*path, key)
        located = locator.locate(key_path)
        mark = located.key_mark()
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "allowed: " + ", ".join(known)
        yield Diagnostic(located.file, mark.line, mark.col, key_path, f"unknown key {key!r}", hint)


def _matches_pattern_properties(schema: Mapping[str, Any], key: str) -> bool:
    return any(re.search(p, key) for p in schema.get("patternProperties", {}))


def _message(error: ValidationError) -> str:
    weak = error.validator in _WEAK and error.context
    if weak and all(sub.validator == "type" for sub in error.context):
        return f"{error.instance!r} is not " + _either([s.validator_value for s in error.context])
    if error.validator == "type" and isinstance(error.validator_value, list):
        return f"{error.instance!r} is not " + _either(error.validator_value)
    if error.validator == "not":
        return f"{error.instance!r} is not allowed here"
    if error.validator == "pattern":
        title = str(_schema_of(error).get("title", "value")).lower()
        return f"{error.instance!r} is not a valid {title}"
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {error.validator_value!r}"
    return str(error.message)


def _either(types: list[Any]) -> str:
    """`["string", "object"]` -> `a mapping or a string`."""
    names = sorted({_TYPE_NAMES.get(str(t), f"a {t}") for t in types})
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _quote_hint(error: ValidationError) -> str | None:
    wants_string = error.validator == "type" and error.validator_value == "string"
    if wants_string and isinstance(error.instance, int | float | bool):
        return "quote the value to make it a string"
    return None
