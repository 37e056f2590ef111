from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle import kinds as families


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
def test_accepts(family: str, kind: str, name: str, ok: bool) -> None:
    assert families.accepts(family, kind, name) is ok


def test_supported() -> None:
    assert families.supported("windows", "boot")
    for family in ("rhel", "sles", "ubuntu", "esxi"):
        assert not families.supported(family, "boot")
        assert not families.accepts(family, "boot", "WinPE_64.wim")
    assert not families.supported("esxi", "driver")
    assert "esxi" in families.unsupported_message("esxi", "driver")
    assert "windows" in families.unsupported_message("rhel", "boot")


def test_every_family_has_every_kind() -> None:
    for rules in families.RULES.values():
        assert set(rules) == {"driver", "boot", "script", "software", "unattend"}


def test_windows_driver_folders() -> None:
    assert families.windows_driver_problems(["e1d/e1d.INF", "e1d/amd64/e1d.sys"]) == []
    assert families.windows_driver_problems(["nic.zip", "raid.ZIP"]) == []
    assert families.windows_driver_problems(["e1d.inf", "e1d.sys"]) == []
    bad = families.windows_driver_problems(["ok/ok.inf", "bad/bad.sys", "loose.sys"])
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
    assert families.windows_driver_problems(with_inf) == []
