from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from osbundle.profile.schema import profile_validator
from osbundle.resources import load_schema

SCHEMA = "profile.schema.json"


def _objects(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield where, node
        for key, value in node.items():
            yield from _objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _objects(value, f"{where}/{index}")


def test_schema_is_valid_draft_2020_12() -> None:
    schema = load_schema(SCHEMA)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("/profile.schema.json")


def test_load_schema_is_cached() -> None:
    assert load_schema(SCHEMA) is load_schema(SCHEMA)


def test_every_property_has_title_and_description() -> None:
    for where, obj in _objects(load_schema(SCHEMA)):
        for name, prop in obj.get("properties", {}).items():
            assert prop.get("title"), f"{where}/{name}"
            assert prop.get("description"), f"{where}/{name}"


def test_objects_are_closed_except_install() -> None:
    for where, obj in _objects(load_schema(SCHEMA)):
        if where.endswith("/properties/install"):
            assert obj["additionalProperties"]["type"] == ["string", "number", "boolean"]
        else:
            assert obj.get("additionalProperties") is False, where


def test_examples_from_the_format_doc() -> None:
    validator = Draft202012Validator(load_schema(SCHEMA))
    doc = {
        "id": "win2016|win2016-x86_64-install-Standard_core",
        "name": "Custom-2016-datacenter-profile",
        "os": {"family": "windows", "release": "2016", "arch": "x86_64"},
        "install": {"unattend": "autounattend", "edition": "datacenter", "build": 1, "x": True},
        "drivers": ["drivers/intel-e1d"],
        "scripts": [{"source": "s.ps1", "phase": "post", "render": True, "dest": "a/b"}],
        "settings": [{"source": "s.json", "namespace": "server_settings"}],
        "files": [{"source": "extras/**", "dest": "tools"}],
    }
    assert list(validator.iter_errors(doc)) == []
    for bad_name in (".", "..", "a/b", "", "x" * 101):
        assert list(validator.iter_errors({**doc, "name": bad_name})), bad_name
    for bad_id in ("a", "a|b|c", "|b", "a|"):
        assert list(validator.iter_errors({**doc, "id": bad_id})), bad_id
    for bad_dest in ("../x", "/x", "a/../b", "a\\b"):
        bad = {**doc, "files": [{"source": "x", "dest": bad_dest}]}
        assert list(validator.iter_errors(bad)), bad_dest
    assert "oneOf" in json.dumps(load_schema(SCHEMA)["$defs"]["script"])
    reserved = {**doc, "settings": [{"source": "s.json", "namespace": "predefined"}]}
    assert list(validator.iter_errors(reserved))


ITEMS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["", "a", "pre", "later"]),
    lambda c: (
        st.lists(c, max_size=2)
        | st.dictionaries(
            st.sampled_from(["source", "dest", "phase", "render", "x"]), c, max_size=4
        )
    ),
    max_leaves=6,
)


@settings(max_examples=300)
@given(st.sampled_from(["drivers", "unattend", "settings", "scripts", "files"]), ITEMS)
def test_folded_schema_means_the_same(key: str, item: object) -> None:
    """The validator's faster compiled form accepts exactly what the published schema accepts."""
    published = Draft202012Validator(load_schema(SCHEMA))
    doc = {"id": "a|b", "name": "n", "os": {"family": "rhel", "release": "1", "arch": "x86_64"}}
    instance = {**doc, key: [item]}
    assert published.is_valid(instance) == profile_validator().is_valid(instance)
    assert "oneOf" not in json.dumps(profile_validator().schema)
