"""Package data: the bundled JSON Schemas, parsed once, and an InputError for a missing one."""

from __future__ import annotations

import pytest

from osbundle.errors import InputError
from osbundle.resources import load_schema


@pytest.mark.parametrize("name", ["profile.schema.json", "metadata.schema.json"])
def test_a_bundled_schema_is_a_json_schema(name: str) -> None:
    schema = load_schema(name)
    assert isinstance(schema, dict)
    assert "$schema" in schema or "type" in schema


def test_a_schema_is_parsed_once_and_then_cached() -> None:
    first = load_schema("profile.schema.json")
    hits = load_schema.cache_info().hits
    assert load_schema("profile.schema.json") is first
    assert load_schema.cache_info().hits == hits + 1


@pytest.mark.parametrize("name", ["nope.json", "", "../pyproject.toml"])
def test_a_missing_schema_is_an_input_error_naming_it(name: str) -> None:
    with pytest.raises(InputError, match=f"no bundled schema named {name!r}".replace(".", r"\.")):
        load_schema(name)


def test_only_a_schema_file_name_is_looked_up() -> None:
    for name in ("../__init__.py", "schemas/profile.schema.json", "profile.json"):
        with pytest.raises(InputError, match="no bundled schema"):
            load_schema(name)
