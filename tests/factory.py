"""Small profile directories for tests: a profile.yaml plus the files it names."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"  # the example profiles


def make_profile(
    root: Path,
    files: Mapping[str, bytes],
    *,
    name: str = "test-profile",
    family: str = "rhel",
    lists: Mapping[str, list[object]] | None = None,
    install: Mapping[str, object] | None = None,
) -> Path:
    """Write `files` under `root` and a profile.yaml whose kind lists are `lists`.

    Without `lists`, every file becomes a `files:` entry landing at `custom/files/<its path>`.
    """
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if lists is None:
        lists = {"files": [file_item(rel) for rel in sorted(files)]} if files else {}
    doc: dict[str, object] = {
        "id": f"{family}|{name}",
        "name": name,
        "description": "test profile",
        "os": {"family": family, "release": "9", "arch": "x86_64"},
    }
    if install:
        doc["install"] = dict(install)
    doc.update(lists)
    # JSON is valid YAML: no quoting questions in tests.
    (root / "profile.yaml").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return root


def glob_literal(path: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in path)


def file_item(rel: str) -> dict[str, str]:
    parent = rel.rpartition("/")[0]
    return (
        {"source": glob_literal(rel), "dest": parent} if parent else {"source": glob_literal(rel)}
    )
