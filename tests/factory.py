"""Small profile directories for tests: a profile.yaml plus the files it names."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"  # the example profiles


def osbundle(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process (its state directory is the test's: see conftest.py)."""
    full_env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000", NO_COLOR="1") | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "osbundle", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        check=False,
        timeout=120,
    )


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


@st.composite
def profile_trees(draw: st.DrawFn) -> dict[str, bytes]:
    """Files for `make_profile`: UTF-8 names, up to 8 files 4 levels deep, sizes around the tar
    block edges; a name is never also a directory, nor the profile's own profile.yaml."""
    segment = st.text(
        alphabet=st.characters(codec="utf-8", categories=["L", "N"], include_characters="-_. "),
        min_size=1,
        max_size=40,
    ).filter(lambda s: s.strip(". ") == s and s not in {".", ".."})
    paths = draw(
        st.lists(
            st.lists(segment, min_size=1, max_size=4).map("/".join),
            min_size=1,
            max_size=8,
            unique_by=lambda p: p.casefold(),
        )
    )
    # A path may not also be the parent directory of another one, and `profile.yaml` at the
    # top is the profile itself (make_profile writes it), neither as a file nor as a directory.
    paths = [
        p
        for p in paths
        if not any(q.startswith(p + "/") for q in paths) and p.split("/")[0] != "profile.yaml"
    ]
    sizes = st.sampled_from([0, 1, 511, 512, 513, 1024, 70_000])
    # Content from a drawn seed: hypothesis shrinks the seed, not megabytes of bytes.
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    return {p: rng.randbytes(draw(sizes)) for p in paths}
