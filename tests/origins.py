"""`collected(path)`: the SourceId a walk would record for a bare path, for tests that read
files without walking a profile; overrides make a stale collection."""

from __future__ import annotations

import os
from typing import Any

from osbundle.model import Folder, SourceId
from osbundle.tarstream.sourcefile import StrPath, source_at


def collected(
    path: StrPath, size: int | None = None, mtime_ns: int | None = None, **other: Any
) -> SourceId:
    """`path`'s identity now (a missing file: an identity nothing has), with overrides."""
    try:
        origin = source_at(path)
    except FileNotFoundError:
        parent, name = os.path.split(os.path.abspath(os.fspath(path)))
        st = os.stat(parent)
        origin = SourceId(
            Folder(os.path.realpath(parent), "", st.st_dev, st.st_ino), name, 0, 0, 0, 0, 0
        )
    if size is not None:
        other["size"] = size
    if mtime_ns is not None:
        other["mtime_ns"] = mtime_ns
    return origin._replace(**other)
