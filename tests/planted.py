"""Names planted where osbundle will create a file: a link to a file outside, a dangling link,
a link to a directory, or a FIFO; and the check that what a link points to was not touched."""

from __future__ import annotations

import os
from pathlib import Path

KINDS = ["file", "dangling", "dir", "fifo"]


def plant(kind: str, at: Path, outside: Path) -> Path | None:
    """A link (or FIFO) planted at `at`; returns the link's target when it is a path."""
    outside.mkdir(exist_ok=True)
    if kind == "fifo":
        os.mkfifo(at)
        return None
    target = outside / {"file": "victim", "dangling": "absent", "dir": "victim-dir"}[kind]
    if kind == "file":
        target.write_bytes(b"precious")
    elif kind == "dir":
        target.mkdir()
    at.symlink_to(target)
    return target


def assert_untouched(kind: str, target: Path | None) -> None:
    if kind == "file":
        assert target is not None
        assert target.read_bytes() == b"precious"
    elif kind == "dangling":
        assert target is not None
        assert not target.exists()
        assert not target.is_symlink()
    elif kind == "dir":
        assert target is not None
        assert list(target.iterdir()) == []
