"""Per-OS-family rules (docs/profile-format.md, "Per-family rules"), as data plus small checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ANY: tuple[str, ...] = ()  # every file name is accepted


@dataclass(frozen=True)
class KindRule:
    """What one family accepts for one kind: None = kind not supported, ANY = anything."""

    suffixes: tuple[str, ...] | None
    names: tuple[str, ...] = ()  # exact file names accepted besides the suffixes


_LINUX_SCRIPTS = (".sh", ".pl", ".py")
_SETTINGS = KindRule((".json",))
_FILES = KindRule(ANY)

RULES: Mapping[str, Mapping[str, KindRule]] = {
    "windows": {
        "driver": KindRule(ANY),  # a folder holding an .inf, or a .zip: see windows_driver_problems
        "boot": KindRule(ANY),
        "script": KindRule((".cmd", ".ps1")),
        "software": KindRule((".zip",)),
        "unattend": KindRule((".xml",)),
    },
    "rhel": {
        "driver": KindRule((".rpm", ".iso")),
        "boot": KindRule(None),
        "script": KindRule(_LINUX_SCRIPTS),
        "software": KindRule((".tar.gz",)),
        "unattend": KindRule((".cfg", ".ks")),
    },
    "sles": {
        "driver": KindRule((".rpm", ".iso")),
        "boot": KindRule(None),
        "script": KindRule(_LINUX_SCRIPTS),
        "software": KindRule((".tar.gz",)),
        "unattend": KindRule((".xml",)),
    },
    "ubuntu": {
        "driver": KindRule((".deb", ".iso")),
        "boot": KindRule(None),
        "script": KindRule(_LINUX_SCRIPTS),
        "software": KindRule((".tar.gz", ".deb")),
        "unattend": KindRule((".yaml", ".yml"), ("user-data",)),
    },
    "esxi": {
        "driver": KindRule(None),
        "boot": KindRule(None),
        "script": KindRule((".sh", ".py")),
        "software": KindRule((".vib", ".zip")),
        "unattend": KindRule((".cfg",)),
    },
}

KIND_NOUNS: Mapping[str, str] = {
    "driver": "drivers",
    "boot": "boot files",
    "unattend": "unattend files",
    "settings": "settings files",
    "script": "scripts",
    "software": "software",
    "file": "files",
}


def rule(family: str, kind: str) -> KindRule:
    if kind == "settings":
        return _SETTINGS
    if kind == "file":
        return _FILES
    return RULES[family][kind]


def supported(family: str, kind: str) -> bool:
    return rule(family, kind).suffixes is not None


def unsupported_message(family: str, kind: str) -> str:
    if kind == "boot":
        return f"boot files are only supported for windows profiles, not {family}"
    return f"{KIND_NOUNS[kind]} are not supported for {family} profiles"


def accepts_any_name(family: str, kind: str) -> bool:
    r = rule(family, kind)
    return r.suffixes == ANY and not r.names


def accepts(family: str, kind: str, file_name: str) -> bool:
    """Whether `file_name` (a base name) is an accepted file of `kind` for `family`."""
    r = rule(family, kind)
    if r.suffixes is None:
        return False
    if not r.suffixes and not r.names:
        return True
    lowered = file_name.lower()
    return lowered in r.names or any(
        lowered.endswith(s) and len(lowered) > len(s) for s in r.suffixes
    )


def rejected_message(family: str, kind: str, rel_path: str) -> str:
    r = rule(family, kind)
    accepted = [*(r.suffixes or ()), *r.names]
    return (
        f"{rel_path!r} is not an accepted {kind} file for {family} "
        f"(accepted: {', '.join(accepted)})"
    )


def windows_driver_problems(in_kind_paths: list[str]) -> list[str]:
    """Problems with one Windows driver source, given its files' paths below the kind dir.

    Every `.zip` stands alone; every other file belongs to a driver folder (its first path
    component, or the source's own top level) that must hold at least one `.inf`.
    """
    folders: dict[str, bool] = {}
    for path in in_kind_paths:
        lowered = path.lower()
        head, sep, _ = path.partition("/")
        if not sep and lowered.endswith(".zip"):
            continue
        folder = head if sep else ""
        folders[folder] = folders.get(folder, False) or lowered.endswith(".inf")
    problems = []
    for folder, has_inf in sorted(folders.items()):
        if not has_inf:
            where = f"folder {folder!r} holds" if folder else "files outside a folder hold"
            problems.append(
                f"Windows driver {where} no .inf file (a driver is a folder with an "
                ".inf, or a .zip)"
            )
    return problems
