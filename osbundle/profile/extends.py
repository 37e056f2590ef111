"""`extends`: load a profile and its bases, merge them, remember where every node came from.

The merged document is plain JSON-like data; a `Locator` maps any path in it back to the file,
line and column it was written at, so an error in a base profile's item points into the base.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from osbundle.diagnostics import Diagnostic, DocPath
from osbundle.errors import InputError
from osbundle.yaml.document import Mark, YamlDocument, YamlError
from osbundle.yaml.reader import load_yaml

PROFILE_FILE = "profile.yaml"


@dataclass(frozen=True)
class Layer:
    """One loaded profile file: the file itself, its display name and its parsed document."""

    path: Path  # as opened (directory part is where its sources are relative to)
    display: str
    doc: YamlDocument

    @cached_property
    def base_dir(self) -> Path:
        return self.path.parent

    @cached_property
    def display_path(self) -> Path:
        return Path(self.display)  # built once: a profile has thousands of positions in it


@dataclass(frozen=True)
class Located:
    """Where a node of the merged document was written."""

    layer: Layer
    path: DocPath  # the node's path inside `layer.doc`

    @property
    def file(self) -> str:
        return self.layer.display

    def value_mark(self) -> Mark:
        return self.layer.doc.mark_for(self.path)

    def key_mark(self) -> Mark:
        mark = self.layer.doc.key_marks.get(self.path)
        return mark if mark is not None else self.value_mark()

    def hint(self) -> str | None:
        return self.layer.doc.ambiguous.get(self.path)


@dataclass
class Locator:
    """Maps merged-document paths to origins via the longest recorded prefix."""

    roots: dict[DocPath, tuple[Layer, DocPath]] = field(default_factory=dict)

    def locate(self, path: DocPath) -> Located:
        for cut in range(len(path), -1, -1):
            hit = self.roots.get(path[:cut])
            if hit is not None:
                layer, origin = hit
                return Located(layer, origin + path[cut:])
        raise KeyError(path)  # unreachable once a root layer is registered

    def pin(self, path: DocPath) -> None:
        """Record the current origin of `path` explicitly, before its ancestor is re-rooted."""
        located = self.locate(path)
        self.roots[path] = (located.layer, located.path)

    def replace(self, path: DocPath, layer: Layer, origin: DocPath) -> None:
        """`path` and everything below it now come from `layer` at `origin`."""
        n = len(path)
        for key in [k for k in self.roots if k[:n] == path]:
            del self.roots[key]
        self.roots[path] = (layer, origin)


@dataclass(frozen=True)
class Merged:
    data: Any
    locator: Locator
    layers: tuple[Layer, ...]  # the top file first, then its bases in order
    diagnostics: tuple[Diagnostic, ...]


def profile_file(path: Path) -> Path:
    """A profile directory or its profile.yaml -> the profile.yaml."""
    return path / PROFILE_FILE if path.is_dir() else path


def diag_at(located: Located, message: str, hint: str | None = None) -> Diagnostic:
    mark = located.value_mark()
    return Diagnostic(located.file, mark.line, mark.col, located.path, message, hint)


class _Loader:
    def __init__(self, cache: dict[tuple[str, str], YamlDocument] | None) -> None:
        self.cache = cache if cache is not None else {}
        self.diagnostics: list[Diagnostic] = []
        self.layers: list[Layer] = []

    def load_doc(self, path: Path, display: str) -> YamlDocument:
        key = (os.path.realpath(path), display)
        doc = self.cache.get(key)
        if doc is None:
            doc = load_yaml(path, display)
            self.cache[key] = doc
        return doc

    def load(self, path: Path, display: str, chain: tuple[tuple[str, str], ...]) -> Merged | None:
        """Load `path` and its bases; None when the file itself could not be parsed."""
        try:
            doc = self.load_doc(path, display)
        except YamlError as exc:
            self.diagnostics.append(exc.diagnostic)
            return None
        layer = Layer(path, display, doc)
        self.layers.append(layer)
        self.diagnostics.extend(doc.problems)
        locator = Locator({(): (layer, ())})
        data = doc.data
        if not isinstance(data, dict) or "extends" not in data:
            return Merged(data, locator, (), ())
        own = {k: v for k, v in data.items() if k != "extends"}
        base = self._load_base(layer, data["extends"], (*chain, (os.path.realpath(path), display)))
        if base is None:
            return Merged(own, locator, (), ())
        merged = base.locator
        result = merge_into(base.data, own, merged, layer)
        return Merged(result, merged, (), ())

    def _load_base(
        self, layer: Layer, target: Any, chain: tuple[tuple[str, str], ...]
    ) -> Merged | None:
        where = Located(layer, ("extends",))
        if not isinstance(target, str) or not target:
            self.diagnostics.append(diag_at(where, f"{target!r} is not a non-empty string"))
            return None
        base_path = profile_file(layer.base_dir / target)
        display = os.path.normpath(os.path.join(os.path.dirname(layer.display), target))
        if base_path.name == PROFILE_FILE and not target.endswith(PROFILE_FILE):
            display = os.path.join(display, PROFILE_FILE)
        real = os.path.realpath(base_path)
        seen = [r for r, _ in chain]
        if real in seen:
            names = [d for _, d in chain[seen.index(real) :]] + [display]
            self.diagnostics.append(diag_at(where, "extends cycle: " + " -> ".join(names)))
            return None
        if not base_path.is_file():
            self.diagnostics.append(diag_at(where, f"no profile at {target!r}"))
            return None
        try:
            base = self.load(Path(real), display, chain)
        except InputError as exc:  # unreadable base: a problem of this profile, not of the run
            self.diagnostics.append(diag_at(where, f"cannot read base profile: {exc}"))
            return None
        if base is not None and not isinstance(base.data, dict):
            root = Located(self.layers[-1], ())
            self.diagnostics.append(diag_at(root, "a base profile must be a mapping"))
            return None
        return base


def load_merged(
    path: Path, display: str, cache: dict[tuple[str, str], YamlDocument] | None = None
) -> Merged:
    """Load the profile file `path` (shown as `display`) with its `extends` chain resolved.

    YAML errors and `extends` problems become diagnostics; `data` is None when the top file
    itself could not be parsed. Raises InputError only when the top file cannot be read.
    """
    loader = _Loader(cache)
    merged = loader.load(path, display, ())
    data = merged.data if merged is not None else None
    locator = merged.locator if merged is not None else Locator()
    return Merged(data, locator, tuple(loader.layers), tuple(loader.diagnostics))


def merge_into(base: Any, child: Any, locator: Locator, child_layer: Layer) -> Any:
    """Merge `child` onto `base`: maps by key, lists append, scalars override; updates `locator`."""
    return _Merger(locator, child_layer).merge((), base, child, ())


@dataclass(frozen=True)
class _Merger:
    locator: Locator
    layer: Layer  # the child being merged onto its base

    def merge(self, mpath: DocPath, base: Any, child: Any, cpath: DocPath) -> Any:
        if isinstance(base, dict) and isinstance(child, dict):
            return self._maps(mpath, base, child, cpath)
        if isinstance(base, list) and isinstance(child, list):
            for index in range(len(base)):
                self.locator.pin((*mpath, index))
            for index in range(len(child)):
                self.locator.replace((*mpath, len(base) + index), self.layer, (*cpath, index))
            self.locator.roots[mpath] = (self.layer, cpath)
            return [*base, *child]
        self.locator.replace(mpath, self.layer, cpath)
        return child

    def _maps(
        self, mpath: DocPath, base: dict[str, Any], child: dict[str, Any], cpath: DocPath
    ) -> Any:
        out: dict[str, Any] = {}
        for key, value in base.items():
            if key not in child:
                self.locator.pin((*mpath, key))
                out[key] = value
        for key, value in base.items():
            if key in child:
                out[key] = self.merge((*mpath, key), value, child[key], (*cpath, key))
        for key, value in child.items():
            if key not in base:
                self.locator.replace((*mpath, key), self.layer, (*cpath, key))
                out[key] = value
        self.locator.roots[mpath] = (self.layer, cpath)
        return _ordered(out, base, child)


def _ordered(out: Mapping[str, Any], base: Mapping[str, Any], child: Mapping[str, Any]) -> Any:
    """Keys in declaration order: the base's first, then the child's new ones."""
    order = [k for k in base if k in out] + [k for k in child if k not in base]
    return {k: out[k] for k in order}
