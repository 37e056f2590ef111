"""`validate --changed`: the profiles that a set of changed files can affect (the pre-commit hook).

A profile depends on its profile.yaml, on the bases it extends and on every file its sources
match, theirs included. Every source resolves inside the directory of the profile file that
declared it (`walk.py`), so "inside the directory of the profile or of one of its bases" covers
all of them, and also a file that is new, renamed or not yet matched: deciding needs only the
`extends` chain (YAML, no walk), and validation then runs for the profiles it picks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from osbundle.profile.extends import load_merged, profile_file
from osbundle.profile.validate import discover_profiles
from osbundle.yaml.document import YamlDocument


def _may_extend(file: Path) -> bool:
    """False only when the file cannot hold an `extends` key: the word is nowhere in it and no
    escape or UTF-16 could spell it. Most profiles extend nothing: this spares parsing them."""
    try:
        data = file.read_bytes()
    except OSError:
        return True  # let the loader say what is wrong with it
    return any(marker in data for marker in (b"extends", b"\\", b"\x00"))


def dependency_dirs(file: Path, cache: dict[tuple[str, str], YamlDocument]) -> set[str]:
    """The real directories of `file` and of every base it extends, as far as they can be read
    (a base that cannot be parsed still names its directory)."""
    dirs = {os.path.realpath(file.parent)}
    if not _may_extend(file):
        return dirs
    merged = load_merged(file, str(file), cache)
    for layer in merged.layers:
        dirs.add(os.path.realpath(layer.base_dir))
        data = layer.doc.data
        target = data.get("extends") if isinstance(data, dict) else None
        if isinstance(target, str) and target:
            dirs.add(os.path.realpath(profile_file(layer.base_dir / target).parent))
    return dirs


def _inside(path: str, dirs: Iterable[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip(os.sep) + os.sep) for d in dirs)


def affected_profiles(root: Path, changed: Sequence[Path]) -> list[Path]:
    """The profile files under `root` (as `discover_profiles` finds them) that depend on one of
    `changed`, in discovery order. A changed file need not exist (deleted, renamed)."""
    targets = [os.path.realpath(c) for c in changed]
    if not targets:
        return []
    cache: dict[tuple[str, str], YamlDocument] = {}
    hits: list[Path] = []
    for file in discover_profiles([root]):
        dirs = dependency_dirs(file, cache)
        if any(_inside(t, dirs) for t in targets):
            hits.append(file)
    return hits
