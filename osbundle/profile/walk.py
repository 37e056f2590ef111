"""Expand one `source` (path, directory or glob) into regular files inside a base directory.

The walk goes through directory descriptors opened from the base (the root), never by
re-traversing path strings: each directory is opened from its parent's descriptor with
O_NOFOLLOW, listed with os.scandir(fd) and its entries stat'ed relative to it, so a directory
swapped for a link mid-walk cannot redirect it. A symlink is resolved to its real path, which
must stay inside the root, and that path is opened again from the root one component at a
time, following no link. Every match records which file it is (model.SourceId): the readers
open exactly that file again, or refuse (tarstream/sourcefile.py).

One stat per plain file (d_type answers "directory or regular file?"), one open and fstat per
directory; only symlinks pay for a realpath. Only directories are opened, so FIFOs and devices
are safe to meet.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import NamedTuple

from osbundle.model import Folder, SourceId
from osbundle.profile.lookup import (
    Entry,
    entry_at,
    follow,
    identity,
    open_dir,
    plain,
    root_entry,
)
from osbundle.profile.spill import Sorter, first_of_each
from osbundle.tarstream.sourcefile import ROOT_FLAGS

GLOB_CHARS = re.compile(r"[*?\[]")  # what makes a source component a pattern
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# How deep the walk goes below the root, at most: it recurses and holds one descriptor per
# level, and a deeper tree would end in a RecursionError or EMFILE instead of a diagnostic.
MAX_DEPTH = 128
Folders = dict[tuple[str, str, int, int], Folder]  # (root, rel, dev, ino): the one Folder


class Match(NamedTuple):
    """A regular file: its path (as written, through links), relative to the base dir,
    relative to the static prefix, its mode, and which file it is (`origin`).

    A named tuple: one is made per file, at a third of a frozen dataclass's cost."""

    abs_path: str
    rel_source: str
    rel: str
    mode: int
    origin: SourceId

    @property
    def size(self) -> int:
        return self.origin.size

    @property
    def mtime_ns(self) -> int:
        return self.origin.mtime_ns


def match_source(match: Match) -> str:
    return match.rel_source


def _sort_key(entry: os.DirEntry[str]) -> str:
    try:
        return entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name
    except OSError:  # gone since it was listed: the walk finds out
        return entry.name


def literal_pattern(text: str) -> str:
    """A pattern matching exactly `text`: `a[1].txt` -> `a[[]1].txt`."""
    return GLOB_CHARS.sub(lambda m: f"[{m.group()}]", text)


def split_relative(text: str, what: str) -> tuple[list[str], str | None]:
    """`text` as path components, or a problem: absolute, backslash, `..`, control characters."""
    if "\\" in text:
        return [], f"{what} {text!r} contains a backslash (use '/')"
    if text.startswith("/"):
        return [], f"{what} {text!r} is absolute (it must be relative to the profile directory)"
    if _CONTROL.search(text):
        return [], f"{what} {text!r} contains a control character"
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        return (
            [],
            f"{what} {text!r} has a '..' component (it must stay inside the profile directory)",
        )
    return parts, None


def name_problem(name: str) -> str | None:
    if name.isascii() and name.isprintable():  # the common case, without a regex or encode
        return None
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return f"file name {name!r} is not valid UTF-8"
    if _CONTROL.search(name):
        return f"file name {name!r} contains a control character"
    return None


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _quoted(rel_source: str) -> str:
    """A source path in a message: quoted, and cut short when it would fill the screen."""
    return repr(rel_source if len(rel_source) <= 200 else rel_source[:100] + "...")


@dataclass(frozen=True, slots=True)
class Dir:
    """A directory being walked: its descriptor and folder (real path below the root), its
    paths as reported, and the real paths of the directories walked down to it."""

    fd: int
    folder: Folder
    path: str  # as written, through links: how matches are named
    rel_source: str  # relative to the base dir
    rel: str  # relative to the source's static prefix
    stack: tuple[str, ...]

    def child(self, name: str, entry: Entry) -> Dir:
        assert entry.folder is not None
        return Dir(
            entry.fd,
            entry.folder,
            f"{self.path}/{name}",
            _join(self.rel_source, name),
            _join(self.rel, name),
            (*self.stack, entry.folder.rel),
        )


@dataclass
class Walker:
    """Collects the matches of one source below `base`, whose real path `root` is open as
    `root_fd` (see `Walker.at`)."""

    base: str
    root: str
    root_fd: int
    folders: Folders = field(default_factory=dict)
    # Every match as met (a file met twice through `**` kept once by `matches`); a profile's
    # walks pass one that spills to disk, so that a million matches are not held in memory.
    found: Sorter[Match] = field(default_factory=lambda: Sorter(match_source, None))
    problems: list[str] = field(default_factory=list)

    @classmethod
    @contextmanager
    def at(
        cls,
        base: str,
        folders: Folders | None = None,
        roots: dict[str, str] | None = None,
        found: Sorter[Match] | None = None,
    ) -> Iterator[Walker]:
        """A walker over `base`, its root descriptor closed at the end; OSError if it cannot
        be opened. `folders` and `roots` (base -> real path) are shared by the walks of one
        profile: the root's real path names it, its descriptor is what the walk trusts.
        `found`: where the matches go (default: in memory)."""
        root = roots.get(base) if roots is not None else None
        if root is None:
            root = os.path.realpath(base)
            if roots is not None:
                roots[base] = root
        fd = os.open(root, ROOT_FLAGS)
        try:
            walker = cls(base, root, fd, {} if folders is None else folders)
            if found is not None:
                walker.found = found
            yield walker
        finally:
            os.close(fd)

    def matches(self) -> Iterator[Match]:
        """Every file matched, once each, sorted by its path relative to the base."""
        return first_of_each(iter(self.found), match_source)

    def _folder(self, entry: Entry) -> Entry:
        """`entry` holding the one Folder object of its directory in this profile, so that the
        readers' cache, keyed by Folder, opens each directory once for all the entries."""
        folder = entry.folder
        if folder is None:
            return entry
        key = (folder.root, folder.rel, folder.dev, folder.ino)
        return entry._replace(folder=self.folders.setdefault(key, folder))

    def expand(self, parts: list[str]) -> None:
        wild = next((i for i, p in enumerate(parts) if GLOB_CHARS.search(p)), None)
        static = parts[:wild] if wild is not None else parts[:-1]
        top = self._prefix(static, None if wild is not None else parts[-1])
        if top is None:
            return
        try:
            if wild is None:
                self._literal(top, parts[-1])
            else:
                self._glob(top, parts[wild:])
        finally:
            os.close(top.fd)

    # --- what a name is -------------------------------------------------------------------

    def _root_dir(self) -> Dir:
        entry = self._folder(root_entry(self.root, self.root_fd))
        assert entry.folder is not None
        return Dir(entry.fd, entry.folder, self.base, "", "", ())

    def _entries(self, where: Dir) -> list[os.DirEntry[str]]:
        """A directory's entries in the order their paths sort, a directory's as if it ended
        in '/' (what is below `a` sorts after `a.b`): the walk then mostly meets its matches
        in order, and the sort of a profile's files has little left to do."""
        try:
            with os.scandir(where.fd) as it:
                return sorted(it, key=_sort_key)
        except OSError as exc:
            self.problems.append(
                f"cannot read directory {_quoted(where.rel_source or '.')}: {exc.strerror}"
            )
            return []

    # --- the walk -------------------------------------------------------------------------

    def _prefix(self, static: list[str], last: str | None) -> Dir | None:
        """The directory of a source's static prefix (an owned descriptor), or None: not there
        (no match, no problem), or a problem recorded. `last`: a literal source's file name."""
        where = self._root_dir()
        for name in static:
            entry = entry_at(self.root_fd, where.fd, where.folder, name)
            if entry.kind == "root":  # a way of naming the root, as harmless as writing nothing
                entry = root_entry(self.root, self.root_fd)
            if entry.kind == "dir" and len(where.stack) >= MAX_DEPTH:
                os.close(entry.fd)
                entry = Entry("deep")
            below = where.child(name, self._folder(entry)) if entry.kind == "dir" else None
            os.close(where.fd)
            if below is None:
                if entry.kind == "outside" and last is not None:  # named as the file it hides
                    shown, entry = "/".join([*static, last]), entry._replace(is_dir=False)
                    self._report(shown, entry)
                else:
                    self._report(_join(where.rel_source, name), entry, through=True)
                return None
            where = below
        return Dir(where.fd, where.folder, where.path, "/".join(static), "", where.stack)

    def _report(self, rel_source: str, entry: Entry, *, through: bool = False) -> None:
        """The problem `entry` is, when it is one. `through`: the walk was only passing through
        it to what is below, so a file, a FIFO or nothing there means no match, not a problem."""
        kind = entry.kind
        if kind == "missing" or (through and kind in ("file", "other", "broken")):
            return
        if kind == "outside" and through and not entry.is_dir:
            return
        message = {
            "outside": "resolves outside the profile directory"
            if through
            else "is a symlink to outside the profile directory",
            "root": "is the profile directory itself",
            "broken": "is a broken symlink",
            "loop": "is a symlink loop",
            "other": "is not a regular file or directory",
            "deep": f"is nested more than {MAX_DEPTH} directories deep",
            "error": f"cannot be read: {entry.error}",
        }[kind]
        self.problems.append(f"{_quoted(rel_source)} {message}")

    def _literal(self, where: Dir, name: str) -> None:
        self._accept(where, name, entry_at(self.root_fd, where.fd, where.folder, name))

    def _accept(self, where: Dir, name: str, entry: Entry, rest: list[str] | None = None) -> None:
        """A matched entry: take a file or a whole directory (`rest` None), or match `rest`
        below a directory."""
        if entry.kind == "file" and rest is None:
            assert entry.origin is not None
            self._add(where, name, entry.mode, entry.origin)
        elif entry.kind == "dir":
            self._enter(where, name, entry, rest)
        elif rest is None or entry.kind in ("root", "broken", "error") or entry.is_dir:
            self._report(_join(where.rel_source, name), entry)

    def _add(self, where: Dir, name: str, mode: int, origin: SourceId) -> None:
        if origin.folder is not where.folder:  # a file reached through a link
            key = (origin.folder.root, origin.folder.rel, origin.folder.dev, origin.folder.ino)
            origin = origin._replace(folder=self.folders.setdefault(key, origin.folder))
        rel_source = _join(where.rel_source, name)
        match = Match(f"{where.path}/{name}", rel_source, _join(where.rel, name), mode, origin)
        self.found.add(match)

    def _enter(self, where: Dir, name: str, entry: Entry, rest: list[str] | None) -> None:
        """Into the directory `entry` (its descriptor closed here): all of it, or `rest`."""
        assert entry.folder is not None
        try:
            if entry.linked and self._loops(where, entry.folder.rel):
                self._report(_join(where.rel_source, name), Entry("loop"))
            elif len(where.stack) >= MAX_DEPTH:
                self._report(_join(where.rel_source, name), Entry("deep"))
            elif rest is None:
                self._take_dir(where.child(name, self._folder(entry)))
            else:
                self._glob(where.child(name, self._folder(entry)), rest)
        finally:
            os.close(entry.fd)

    @staticmethod
    def _loops(where: Dir, real: str) -> bool:
        """Whether walking `real` would walk down to a directory already being walked: it is
        one of them or holds one (a link to a parent is a loop the moment it is met)."""
        return any(d == real or d.startswith(real + "/") for d in where.stack)

    def _take_dir(self, where: Dir) -> None:
        for entry in self._entries(where):
            self._visit(where, entry, None)

    def _visit(self, where: Dir, entry: os.DirEntry[str], rest: list[str] | None) -> None:
        """Take `entry` (rest None), or match `rest` below it when it is a directory."""
        name = entry.name
        problem = name_problem(name)
        if problem is not None:
            self.problems.append(problem)
            return
        try:
            if entry.is_symlink():
                found = follow(self.root_fd, where.folder, name)
            elif entry.is_dir(follow_symlinks=False):
                found = open_dir(where.fd, where.folder, name)
            elif rest is not None:
                return
            else:
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(st.st_mode):  # the walk's most common step, without an Entry
                    self._add(where, name, st.st_mode, identity(where.folder, name, st))
                    return
                found = plain(where.fd, where.folder, name, st)
        except FileNotFoundError:  # gone since the directory was listed
            return
        except OSError as exc:
            found = Entry("error", error=exc.strerror or str(exc))
        self._accept(where, name, found, rest)

    def _glob(self, where: Dir, pats: list[str]) -> None:
        pat, rest = pats[0], pats[1:]
        if pat == "**":
            if not rest:
                self._take_dir(where)
                return
            self._glob(where, rest)
        elif not GLOB_CHARS.search(pat):
            self._literal_step(where, pat, rest)
            return
        for entry in self._entries(where):
            if pat == "**":
                self._visit(where, entry, pats)
            elif fnmatchcase(entry.name, pat):
                self._visit(where, entry, rest or None)

    def _literal_step(self, where: Dir, name: str, rest: list[str]) -> None:
        if not rest:
            self._literal(where, name)
            return
        entry = entry_at(self.root_fd, where.fd, where.folder, name)
        if entry.kind == "dir":
            self._enter(where, name, entry, rest)
        else:
            self._report(_join(where.rel_source, name), entry, through=True)
