"""The kinds of file a profile ships and what each OS family accepts of each (one home for both).

A new kind is one row of `KINDS` plus its list in schemas/profile.schema.json (tests/test_kinds.py
holds the two together); a new OS family is one row of `FAMILY_RULES` and of `UNATTEND_FORMATS`.
The rules are documented in docs/profile-format.md, "Per-family rules".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from osbundle.errors import InputError

Family = Literal["windows", "rhel", "sles", "ubuntu", "esxi"]
Kind = Literal["driver", "boot", "unattend", "settings", "script", "software", "file"]
RenderFormat = Literal[
    "windows-unattend", "autoyast", "kickstart", "esxi-ks", "autoinstall", "script"
]

ANY: tuple[str, ...] = ()  # every file name is accepted


@dataclass(frozen=True)
class KindRule:
    """What a family accepts for a kind: None = kind not supported, ANY = anything."""

    suffixes: tuple[str, ...] | None
    names: tuple[str, ...] = ()  # exact file names accepted besides the suffixes


@dataclass(frozen=True)
class KindInfo:
    """One kind: where it is written in profile.yaml, where it lands, and how it is treated."""

    key: str  # the profile.yaml list that holds it
    directory: str  # where its members land inside `<profile-name>/`
    noun: str  # how messages name several of them
    rendered: bool = False  # macros are substituted unless an item says `render: false`
    executable: bool = False  # members are 0755 whatever their source's mode
    name_key: str | None = None  # the item key that names each member (unattend id, namespace)
    rule: KindRule | None = None  # what every family accepts; None: per family, FAMILY_RULES


# In the order profile.yaml lists them, which is the order of a profile's entries everywhere.
KINDS: Mapping[Kind, KindInfo] = {
    "driver": KindInfo("drivers", "drivers", "drivers"),
    "boot": KindInfo("bootFiles", "boot", "boot files"),
    "unattend": KindInfo("unattend", "unattend", "unattend files", rendered=True, name_key="name"),
    "settings": KindInfo(
        "settings",
        "custom/settings",
        "settings files",
        name_key="namespace",
        rule=KindRule((".json",)),
    ),
    "script": KindInfo("scripts", "custom/scripts", "scripts", rendered=True, executable=True),
    "software": KindInfo("software", "custom/software", "software"),
    "file": KindInfo("files", "custom/files", "files", rule=KindRule(ANY)),
}
RENDERED_KINDS: frozenset[Kind] = frozenset(k for k, info in KINDS.items() if info.rendered)
NAMED_KINDS: frozenset[Kind] = frozenset(k for k, info in KINDS.items() if info.name_key)

_LINUX_SCRIPTS = (".sh", ".pl", ".py")

FAMILY_RULES: Mapping[Family, Mapping[Kind, KindRule]] = {
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

# The format of each family's unattend files: how macros in them are escaped (macros.render).
UNATTEND_FORMATS: Mapping[Family, RenderFormat] = {
    "windows": "windows-unattend",
    "sles": "autoyast",
    "rhel": "kickstart",
    "esxi": "esxi-ks",
    "ubuntu": "autoinstall",
}


def rule(family: Family, kind: Kind) -> KindRule:
    shared = KINDS[kind].rule
    return shared if shared is not None else FAMILY_RULES[family][kind]


def supported(family: Family, kind: Kind) -> bool:
    return rule(family, kind).suffixes is not None


def unsupported_message(family: Family, kind: Kind) -> str:
    if kind == "boot":
        return f"boot files are only supported for windows profiles, not {family}"
    return f"{KINDS[kind].noun} are not supported for {family} profiles"


def accepts_any_name(family: Family, kind: Kind) -> bool:
    r = rule(family, kind)
    return r.suffixes == ANY and not r.names


def accepts(family: Family, kind: Kind, file_name: str) -> bool:
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


def rejected_message(family: Family, kind: Kind, rel_path: str) -> str:
    r = rule(family, kind)
    accepted = [*(r.suffixes or ()), *r.names]
    return (
        f"{rel_path!r} is not an accepted {kind} file for {family} "
        f"(accepted: {', '.join(accepted)})"
    )


def render_format(family: Family, kind: Kind, path: str) -> RenderFormat:
    """How a member of `kind` at bundle `path` renders for an OS `family`; InputError if not."""
    if kind == "script":
        return "script"
    fmt = UNATTEND_FORMATS.get(family)
    if kind != "unattend" or fmt is None:
        raise InputError(f"{path}: no macro rendering for {kind} files of family {family!r}")
    if not accepts(family, kind, path.rsplit("/", 1)[-1]):
        raise InputError(f"{path}: {rejected_message(family, kind, path)}")
    return fmt


def file_stem(name: str) -> str:
    """A named kind's default name: `server_settings.json` -> `server_settings`, `agent.tar.gz`
    -> `agent`."""
    stem = name.split(".", 1)[0]
    return stem if stem else name


def windows_driver_problems(in_kind_paths: list[str]) -> list[str]:
    """Problems with one Windows driver source, given its files' paths below the kind dir."""
    folders = DriverFolders()
    for path in in_kind_paths:
        folders.add(path)
    return folders.problems()


class DriverFolders:
    """The driver folders of one Windows driver source, its files' paths below the kind dir
    `add`ed one at a time: every `.zip` stands alone; every other file belongs to a driver
    folder (its first path component, or the source's own top level) that must hold at least
    one `.inf`."""

    def __init__(self) -> None:
        self.has_inf: dict[str, bool] = {}  # one per folder, not per file

    def add(self, path: str) -> None:
        lowered = path.lower()
        head, sep, _ = path.partition("/")
        if not sep and lowered.endswith(".zip"):
            return
        folder = head if sep else ""
        self.has_inf[folder] = self.has_inf.get(folder, False) or lowered.endswith(".inf")

    def problems(self) -> list[str]:
        problems = []
        for folder, has_inf in sorted(self.has_inf.items()):
            if not has_inf:
                where = f"folder {folder!r} holds" if folder else "files outside a folder hold"
                problems.append(
                    f"Windows driver {where} no .inf file (a driver is a folder with an "
                    ".inf, or a .zip)"
                )
        return problems
