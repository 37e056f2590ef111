"""The profile.yaml that `unpack` writes: built from metadata.json so that `osbundle build`
on the unpacked directory lands every member on the same bundle path with the same bytes.

Each member file sits in the unpacked directory at its bundle path, so an item's `source` is
that path (glob characters escaped) and its `dest` is the member's directory below its kind
directory. Windows drivers are the exception: the family rule checks that each entry's driver
folders hold an `.inf`, so they become one `drivers/**` entry (or one entry per folder).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any, cast

from osbundle.errors import BundleError
from osbundle.kinds import KINDS, RENDERED_KINDS, Kind
from osbundle.profile.walk import literal_pattern

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_YAML_WORDS = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n"})
# Escaped: what YAML 1.2 does not allow as a printable character (C0/C1 controls, surrogates,
# U+FFFE/U+FFFF), and line separators and the BOM, which readers treat specially.
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]')

# `has_macros(path)` says whether a member's bytes hold text that would render as a macro.
HasMacros = Callable[[str], bool]


def profile_document(
    metadata: Mapping[str, Any], has_macros: HasMacros
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The profile as a JSON-like document, and notes on anything that will not round-trip."""
    profile = metadata["profile"]
    install = dict(metadata["installOptions"])
    for entry in metadata["unattendFiles"]:
        if entry["path"] == metadata["predefinedUnattend"]:
            install["unattend"] = entry["name"]
    doc: dict[str, Any] = {
        "id": profile["id"],
        "name": profile["name"],
        "description": profile["description"],
        "os": {k: profile["os"][k] for k in ("family", "release", "arch")},
        "install": install,
    }
    notes: list[str] = []
    members: Sequence[Mapping[str, Any]] = metadata["members"]
    all_paths = [m["path"].split("/") for m in members]
    for kind, info in KINDS.items():
        items = [m for m in members if m["kind"] == kind]
        if not items:
            continue
        if kind == "driver" and profile["os"]["family"] == "windows":
            doc[info.key] = windows_driver_items([m["path"] for m in items], all_paths)
        else:
            doc[info.key] = [item_for(m, all_paths, has_macros, notes) for m in items]
    return doc, tuple(notes)


def item_for(
    member: Mapping[str, Any], all_paths: list[list[str]], has_macros: HasMacros, notes: list[str]
) -> dict[str, Any]:
    kind, path = member["kind"], member["path"]
    item = located(path, kind, all_paths)
    if kind == "script":
        item["phase"] = member["phase"]
    name_key = KINDS[kind].name_key
    if name_key is not None:
        item[name_key] = member["name"]
    if kind in RENDERED_KINDS:
        # Rendering is one plain pass over `#a.b#` tokens: text without any renders to itself,
        # so `render: true` reproduces both the bytes and the `rendered` flag in metadata.
        render = bool(member.get("rendered")) and not has_macros(path)
        if member.get("rendered") and not render:
            notes.append(
                f"{path}: already rendered and holds text that looks like a macro, so it gets "
                "`render: false`; a rebuild keeps its bytes but records it as not rendered"
            )
        item["render"] = render
    return item


def located(path: str, kind: str, all_paths: list[list[str]]) -> dict[str, Any]:
    """`source` matching exactly this file, and the `dest` that lands it on `path` again."""
    parts = path.split("/")
    patterns = [escape_glob(p) for p in parts]
    check_unique(parts, patterns, all_paths)
    kind_depth = len(KINDS[cast(Kind, kind)].directory.split("/"))
    # The walker keeps the path below the static prefix: below the directory holding the first
    # wildcard component, or the file name when there is none.
    first_wild = next(
        (i for i, (a, b) in enumerate(zip(parts, patterns, strict=True)) if a != b), None
    )
    keep_from = len(parts) - 1 if first_wild is None else first_wild
    item: dict[str, Any] = {"source": "/".join(patterns)}
    dest = "/".join(parts[kind_depth:keep_from])
    if dest:
        item["dest"] = dest
    return item


def escape_glob(component: str) -> str:
    """Glob characters made literal; a backslash (never allowed in a source) matches via `?`."""
    return literal_pattern(component).replace("\\", "?")


def check_unique(target: list[str], patterns: list[str], all_paths: list[list[str]]) -> None:
    """Refuse a pattern that would also match a file or directory other than `target`."""
    if not any("?" in p.replace("[?]", "") for p in patterns):
        return
    depth = len(patterns)
    for other in all_paths:
        if (
            other[:depth] != target
            and len(other) >= depth
            and all(fnmatchcase(o, p) for o, p in zip(other, patterns, strict=False))
        ):
            raise BundleError(
                f"cannot write a profile source for {'/'.join(target)!r}: its backslashes can "
                f"only be matched by a wildcard, which also matches {'/'.join(other)!r}"
            )


def windows_driver_items(paths: list[str], all_paths: list[list[str]]) -> list[dict[str, Any]]:
    """Windows drivers as entries that pass the per-entry `.inf` rule the original passed."""
    folders: dict[str, list[str]] = {}
    top_level: list[str] = []
    for path in paths:
        below = path.split("/", 1)[1]
        folder, sep, _ = below.partition("/")
        if sep:
            folders.setdefault(folder, []).append(path)
        else:
            top_level.append(path)
    zip_only = {
        f for f, files in folders.items() if not any(p.lower().endswith(".inf") for p in files)
    }
    if not zip_only:
        return [{"source": "drivers/**"}]
    if any(not p.lower().endswith(".zip") for p in top_level):
        raise BundleError(
            "cannot write profile entries for these Windows drivers: loose driver files in "
            "drivers/ beside a folder that holds only .zip files"
        )
    items = []
    for folder in sorted(folders, key=lambda f: f.encode()):
        if folder in zip_only:
            items += [located(p, "driver", all_paths) for p in folders[folder]]
        else:
            patterns = ["drivers", escape_glob(folder)]
            check_unique(["drivers", folder], patterns, all_paths)
            items.append({"source": "/".join(patterns)})  # a directory source keeps its name
    items += [located(p, "driver", all_paths) for p in top_level]
    return items


def dump_profile_yaml(doc: Mapping[str, Any]) -> str:
    """Block-style YAML in which every string is double-quoted, so no YAML 1.1 or 1.2 resolver
    can read a value as anything but the string it was (`"0644"`, `"yes"`, `"1e3"`, ...)."""
    lines = ["# Written by `osbundle unpack` from the bundle's metadata.json."]
    for key, value in doc.items():
        lines += yaml_node(key, value, "")
    return "\n".join(lines) + "\n"


def yaml_node(key: str, value: Any, pad: str) -> list[str]:
    if isinstance(value, Mapping):
        if not value:
            return [f"{pad}{yaml_key(key)}: {{}}"]
        out = [f"{pad}{yaml_key(key)}:"]
        for k, v in value.items():
            out += yaml_node(k, v, pad + "  ")
        return out
    if isinstance(value, list):
        out = [f"{pad}{yaml_key(key)}:"]
        for item in value:
            for i, (k, v) in enumerate(item.items()):
                lead = f"{pad}  - " if i == 0 else f"{pad}    "
                out.append(f"{lead}{yaml_key(k)}: {yaml_scalar(v)}")
        return out
    return [f"{pad}{yaml_key(key)}: {yaml_scalar(value)}"]


def yaml_key(key: str) -> str:
    plain = _PLAIN_KEY.fullmatch(key) and key.lower() not in _YAML_WORDS
    return key if plain else yaml_string(key)


def yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return yaml_string(str(value))


def yaml_string(text: str) -> str:
    def escape(match: re.Match[str]) -> str:
        ch = match.group()
        if ch in '"\\':
            return "\\" + ch
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return '"' + _NEEDS_ESCAPE.sub(escape, text) + '"'
