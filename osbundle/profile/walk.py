"""Expand one `source` (path, directory or glob) into regular files inside a base directory.

os.scandir-based, one stat per file: d_type answers "directory or regular file?" for plain
entries, and only symlinks pay for a realpath. Nothing is ever opened, so FIFOs and devices
are safe to meet.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import NamedTuple

GLOB_CHARS = re.compile(r"[*?\[]")  # what makes a source component a pattern
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class Match(NamedTuple):
    """A regular file: its path, relative to the base dir, relative to the static prefix, and
    the size, modification time and mode it had when matched (not the whole stat result).

    A named tuple: one is made per file, at a third of a frozen dataclass's cost."""

    abs_path: str
    rel_source: str
    rel: str
    size: int
    mtime_ns: int
    mode: int


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


@dataclass(frozen=True)
class Dir:
    """A directory being walked: where it is, its real path, its paths as reported, the stack."""

    path: str
    real: str
    rel_source: str  # relative to the base dir
    rel: str  # relative to the source's static prefix
    stack: tuple[str, ...]  # real paths of the directories entered through links or globs

    def child(self, name: str, real: str, *, push: bool) -> Dir:
        stack = (*self.stack, real) if push else self.stack
        path = os.path.join(self.path, name)
        return Dir(path, real, _join(self.rel_source, name), _join(self.rel, name), stack)


@dataclass
class Walker:
    """Collects the matches of one source below `base` (real path `base_real`)."""

    base: str
    base_real: str
    realpaths: dict[str, str] = field(default_factory=dict)  # shared by the walks of one profile
    found: dict[str, Match] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def realpath(self, path: str) -> str:
        real = self.realpaths.get(path)
        if real is None:
            real = self.realpaths[path] = os.path.realpath(path)
        return real

    def inside(self, real: str) -> bool:
        return real == self.base_real or real.startswith(self.base_real + os.sep)

    def expand(self, parts: list[str]) -> None:
        wild = next((i for i, p in enumerate(parts) if GLOB_CHARS.search(p)), None)
        static = parts[:wild] if wild is not None else parts[:-1]
        dir_abs = os.path.join(self.base, *static) if static else self.base
        real = self.realpath(dir_abs)
        top = Dir(dir_abs, real, "/".join(static), "", (real,))
        if wild is None:
            self._literal(top, parts[-1])
        elif not os.path.isdir(dir_abs):
            return
        elif not self.inside(real):
            self.problems.append(f"{top.rel_source!r} resolves outside the profile directory")
        else:
            self._glob(top, parts[wild:])

    def _literal(self, where: Dir, name: str) -> None:
        path = os.path.join(where.path, name)
        try:
            st = os.lstat(path)
            real = os.path.join(where.real, name)
            if stat.S_ISLNK(st.st_mode):
                real = os.path.realpath(path)
                st = os.stat(path)
        except OSError:
            if os.path.islink(path):
                self.problems.append(f"{_join(where.rel_source, name)!r} is a broken symlink")
            return
        self._accept(where, name, real, st)

    def _accept(self, where: Dir, name: str, real: str, st: os.stat_result) -> None:
        """A matched entry (stat'ed, following links): take a file, or a whole directory."""
        rel_source = _join(where.rel_source, name)
        if not self.inside(real):
            self.problems.append(f"{rel_source!r} is a symlink to outside the profile directory")
        elif stat.S_ISREG(st.st_mode):
            self._add_match(where, name, os.path.join(where.path, name), st)
        elif not stat.S_ISDIR(st.st_mode):
            self.problems.append(f"{rel_source!r} is not a regular file or directory")
        elif real == self.base_real:
            self.problems.append(f"{rel_source!r} is the profile directory itself")
        elif real in where.stack:
            self.problems.append(f"{rel_source!r} is a symlink loop")
        else:
            self._take_dir(where.child(name, real, push=True))

    def _take_plain(self, where: Dir, entry: os.DirEntry[str]) -> None:
        """`_accept` for an entry that is no link and no directory: it is inside because `where`
        is, so the walk's most common step needs no real path."""
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISREG(st.st_mode):
            self._add_match(where, entry.name, entry.path, st)
        else:
            rel_source = _join(where.rel_source, entry.name)
            self.problems.append(f"{rel_source!r} is not a regular file or directory")

    def _add_match(self, where: Dir, name: str, path: str, st: os.stat_result) -> None:
        rel_source = _join(where.rel_source, name)
        match = Match(
            path, rel_source, _join(where.rel, name), st.st_size, st.st_mtime_ns, st.st_mode
        )
        self.found.setdefault(rel_source, match)

    def _entries(self, where: Dir) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(where.path) as it:
                return list(it)
        except OSError as exc:
            self.problems.append(
                f"cannot read directory {where.rel_source or '.'!r}: {exc.strerror}"
            )
            return []

    def _take_dir(self, where: Dir) -> None:
        for entry in self._entries(where):
            self._visit(where, entry, None)

    def _visit(self, where: Dir, entry: os.DirEntry[str], rest: list[str] | None) -> None:
        """Take `entry` (rest None), or match `rest` below it when it is a directory."""
        problem = name_problem(entry.name)
        if problem is not None:
            self.problems.append(problem)
            return
        if entry.is_symlink():
            real = os.path.realpath(entry.path)
            try:
                st = os.stat(entry.path)
            except OSError:
                self.problems.append(f"{_join(where.rel_source, entry.name)!r} is a broken symlink")
                return
        elif not entry.is_dir(follow_symlinks=False):
            if rest is None:
                self._take_plain(where, entry)
            return
        else:
            real = os.path.join(where.real, entry.name)
            if rest is None:
                self._take_dir(where.child(entry.name, real, push=False))
                return
            st = entry.stat(follow_symlinks=False)
        if rest is None:
            self._accept(where, entry.name, real, st)
        elif stat.S_ISDIR(st.st_mode) and self.inside(real) and real not in where.stack:
            self._glob(where.child(entry.name, real, push=True), rest)
        elif stat.S_ISDIR(st.st_mode):
            self._accept(where, entry.name, real, st)

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
        path = os.path.join(where.path, name)
        real = os.path.realpath(path)
        if not os.path.isdir(path) or real in where.stack:
            return
        if not self.inside(real):
            rel_source = _join(where.rel_source, name)
            self.problems.append(f"{rel_source!r} resolves outside the profile directory")
            return
        self._glob(where.child(name, real, push=True), rest)
