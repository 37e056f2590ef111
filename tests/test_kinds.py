from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle import kinds
from osbundle.errors import InputError
from osbundle.kinds import Family, Kind, render_format


@pytest.mark.parametrize(
    ("family", "kind", "name", "ok"),
    [
        ("windows", "script", "setup.CMD", True),
        ("windows", "script", "setup.sh", False),
        ("windows", "software", "agent.zip", True),
        ("windows", "unattend", "autounattend.xml", True),
        ("windows", "boot", "WinPE_64.wim", True),
        ("rhel", "driver", "kmod.rpm", True),
        ("rhel", "driver", "dud.iso", True),
        ("rhel", "driver", "readme.txt", False),
        ("rhel", "unattend", "ks.cfg", True),
        ("rhel", "unattend", "ks.ks", True),
        ("rhel", "software", "agent.tar.gz", True),
        ("rhel", "software", "agent.zip", False),
        ("sles", "unattend", "autoinst.xml", True),
        ("ubuntu", "unattend", "user-data", True),
        ("ubuntu", "unattend", "autoinstall.yml", True),
        ("ubuntu", "software", "tool.deb", True),
        ("esxi", "unattend", "ks.cfg", True),
        ("esxi", "script", "x.pl", False),
        ("esxi", "software", "x.vib", True),
        ("esxi", "settings", "x.json", True),
        ("esxi", "settings", "x.yaml", False),
        ("rhel", "file", "anything.bin", True),
        ("rhel", "script", ".sh", False),
    ],
)
def test_accepts(family: Family, kind: Kind, name: str, ok: bool) -> None:
    assert kinds.accepts(family, kind, name) is ok


def test_supported() -> None:
    assert kinds.supported("windows", "boot")
    for family in ("rhel", "sles", "ubuntu", "esxi"):
        assert not kinds.supported(family, "boot")
        assert not kinds.accepts(family, "boot", "WinPE_64.wim")
    assert not kinds.supported("esxi", "driver")
    assert "esxi" in kinds.unsupported_message("esxi", "driver")
    assert "windows" in kinds.unsupported_message("rhel", "boot")


def test_every_family_has_a_rule_for_every_kind_without_a_shared_one() -> None:
    per_family = {kind for kind, info in kinds.KINDS.items() if info.rule is None}
    assert per_family == {"driver", "boot", "script", "software", "unattend"}
    for rules in kinds.FAMILY_RULES.values():
        assert set(rules) == per_family
    assert set(kinds.UNATTEND_FORMATS) == set(kinds.FAMILY_RULES)


def test_windows_driver_folders() -> None:
    assert kinds.windows_driver_problems(["e1d/e1d.INF", "e1d/amd64/e1d.sys"]) == []
    assert kinds.windows_driver_problems(["nic.zip", "raid.ZIP"]) == []
    assert kinds.windows_driver_problems(["e1d.inf", "e1d.sys"]) == []
    bad = kinds.windows_driver_problems(["ok/ok.inf", "bad/bad.sys", "loose.sys"])
    assert len(bad) == 2
    assert "'bad'" in bad[1]
    assert "outside a folder" in bad[0]


@given(st.lists(st.from_regex(r"[a-z]{1,5}(/[a-z]{1,5}){0,2}\.(sys|cat|zip)", fullmatch=True)))
def test_a_folder_with_an_inf_is_always_fine(paths: list[str]) -> None:
    folders = {p.split("/")[0] for p in paths if "/" in p}
    with_inf = paths + [f"{f}/x.inf" for f in folders]
    loose = [p for p in paths if "/" not in p and not p.endswith(".zip")]
    if loose:
        with_inf.append("top.inf")
    assert kinds.windows_driver_problems(with_inf) == []


# --- render_format -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "kind", "path", "fmt"),
    [
        ("windows", "unattend", "unattend/autounattend.xml", "windows-unattend"),
        ("sles", "unattend", "unattend/autoinst.XML", "autoyast"),
        ("rhel", "unattend", "unattend/ks.cfg", "kickstart"),
        ("rhel", "unattend", "unattend/a.ks", "kickstart"),
        ("esxi", "unattend", "unattend/ks.cfg", "esxi-ks"),
        ("ubuntu", "unattend", "unattend/user-data", "autoinstall"),
        ("ubuntu", "unattend", "unattend/a.yaml", "autoinstall"),
        ("windows", "script", "custom/scripts/post.ps1", "script"),
        ("rhel", "script", "custom/scripts/pre.sh", "script"),
    ],
)
def test_render_format(family: Family, kind: Kind, path: str, fmt: str) -> None:
    assert render_format(family, kind, path) == fmt


@pytest.mark.parametrize(
    ("family", "kind", "path"),
    [("rhel", "unattend", "u/a.xml"), ("windows", "driver", "d/x.inf"), ("bsd", "unattend", "x")],
)
def test_render_format_refuses_what_does_not_render(family: Any, kind: Kind, path: str) -> None:
    with pytest.raises(InputError):
        render_format(family, kind, path)
