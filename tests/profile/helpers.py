"""What the profile tests share: files on disk, source entries and profiles made by hand, and
the folder `osbundle init` is tried on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from osbundle.kinds import Family, Kind
from osbundle.model import OsSpec, Position, Profile, SourceSpec
from osbundle.profile.scan import resolve_sources
from osbundle.profile.walk import Match, Walker


def make_files(root: Path, names: Sequence[str], mode: int = 0o644) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
        path.chmod(mode)


def spec(
    root: Path, source: str, kind: Kind = "file", dest: str = "", index: int = 0
) -> SourceSpec:
    return SourceSpec(
        kind=kind,
        source=source,
        base_dir=root,
        dest=dest,
        yaml_path=(f"{kind}s", index),
        position=Position(Path("profile.yaml"), 10 + index, 5),
    )


def profile(root: Path, specs: Sequence[SourceSpec], family: Family = "rhel") -> Profile:
    return Profile(
        path=root / "profile.yaml",
        root=root,
        id="a|b",
        name="p",
        description="",
        os=OsSpec(family, "1", "x86_64"),
        install={},
        predefined_unattend=None,
        entries=tuple(specs),
    )


def resolve(root: Path, *specs: SourceSpec, family: Family = "rhel") -> tuple[list[str], list[str]]:
    files, diags = resolve_sources(profile(root, specs, family))
    return [f.bundle_path for f in files], [d.message for d in diags]


# A folder a Windows user has, for `osbundle init`: every kind, and things that are none.
WINDOWS_FILES = {
    "drivers/nic/e1d.inf": b"[Version]\r\n",
    "drivers/nic/e1d.sys": b"MZ",
    "drivers/readme.txt": b"not a driver",
    "boot/WinPE_64.wim": b"wim",
    "unattend/autounattend.xml": b"<unattend><x>#predefined.os.family#</x></unattend>",
    "scripts/post.ps1": b"Write-Host '#settings.greeting#'\r\n",
    "scripts/other.ps1": b"Write-Host '#nobody.defines.this#'\r\n",
    "scripts/notes.txt": b"x",
    "software/tool.zip": b"PK\x05\x06" + bytes(18),
    "settings/settings.json": b'{"greeting": "hello"}',
    "extra/a[1].txt": b"glob chars in a name",
    "top.txt": b"top",
}


def matches_by_source(walker: Walker) -> dict[str, Match]:
    """Every match of a walk, once each, by its path relative to the base (Walker.matches)."""
    return {m.rel_source: m for m in walker.matches()}
