"""Shared by the YAML loader tests: run a test with either parser, parse, expect an error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from osbundle.diagnostics import DocPath
from osbundle.yaml import reader
from osbundle.yaml.document import YamlDocument, YamlError
from osbundle.yaml.reader import parse_yaml

BACKENDS = ["libyaml", "python"]


def select_backend(name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make `parse_yaml` use libyaml's parser or PyYAML's pure-Python one for this test."""
    if name == "libyaml" and reader._C_LOADER is None:
        pytest.skip("PyYAML was built without libyaml")
    if name == "python":
        monkeypatch.setattr(reader, "_C_LOADER", None)
    return name


@contextmanager
def python_parser() -> Iterator[None]:
    """Like `select_backend("python")`, for use inside one hypothesis example."""
    saved = reader._C_LOADER
    reader._C_LOADER = None
    try:
        yield
    finally:
        reader._C_LOADER = saved


def parse(text: str | bytes) -> YamlDocument:
    return parse_yaml(text.encode() if isinstance(text, str) else text, "p.yaml")


def fails(text: str | bytes) -> YamlError:
    """The YamlError that parsing `text` raises, checked to be one line and about p.yaml."""
    with pytest.raises(YamlError) as info:
        parse(text)
    error = info.value
    assert "\n" not in str(error)
    assert "\n" not in (error.diagnostic.hint or "")
    assert error.diagnostic.file == "p.yaml"
    return error


def at(error: YamlError) -> tuple[int, int]:
    return error.diagnostic.line, error.diagnostic.col


def all_paths(data: Any, path: DocPath = ()) -> Iterator[DocPath]:
    """Every path in JSON-like data, the root included."""
    yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from all_paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from all_paths(value, (*path, index))
