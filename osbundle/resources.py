"""Package data (JSON Schemas) loaded through importlib.resources, so it works from a wheel too."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any, cast

from osbundle.errors import InputError


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed JSON Schema `osbundle/schemas/<name>`; parsed once per process."""
    if "/" in name or "\\" in name or not name.endswith(".schema.json"):
        raise InputError(f"no bundled schema named {name!r}")
    resource = files("osbundle") / "schemas" / name
    try:
        return cast(dict[str, Any], json.loads(resource.read_text(encoding="utf-8")))
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise InputError(f"no bundled schema named {name!r}") from exc
