"""The example profiles under profiles/, the pre-commit hook and the benchmark corpus generator."""

from __future__ import annotations

import fnmatch
import io
import random
import re
import tarfile
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import gen_profiles as GEN
from osbundle.macros.grammar import find_macros
from osbundle.model import BuildRequest, Member
from osbundle.pipeline import build_bundle
from osbundle.profile.load import load_profile
from osbundle.profile.validate import check_paths, load_checked_profile
from osbundle.stages.collect import collect
from osbundle.stages.render import render

REPO = Path(__file__).resolve().parent.parent
PROFILES = REPO / "profiles"
EXAMPLES = ("windows-2016-datacenter", "rhel-9", "sles-15", "ubuntu-24.04", "esxi-8")
UNATTEND_NS = "{urn:schemas-microsoft-com:unattend}"
YAST_NS = "{http://www.suse.com/1.0/yast2ns}"
EPOCH = 1700000000  # 2023-11-14T22:13:20Z


def rendered(example: str) -> dict[str, bytes]:
    """Bundle path -> bytes of every member after the render stage (else the source's bytes)."""
    with load_checked_profile(PROFILES / example) as checked:
        members = render(checked.profile, collect(list(checked.files)))
        return {m.path: member_bytes(m) for m in members}


def member_bytes(member: Member) -> bytes:
    if member.data is not None:
        return member.data
    assert member.source is not None
    return Path(member.source).read_bytes()


def text_of(members: dict[str, bytes], path: str) -> str:
    text = members[path].decode("utf-8")
    assert find_macros(text) == [], f"{path} still holds macros"
    return text


# --- every example validates clean ------------------------------------------------------------


def test_validate_profiles_dir_finds_every_example_and_all_are_clean() -> None:
    run = check_paths([PROFILES])
    found = {Path(r.file).parent.relative_to(PROFILES).as_posix() for r in run.reports}
    assert found == {*EXAMPLES, "base/rhel-base"}
    assert run.ok
    assert {r.file: r.diagnostics for r in run.reports if r.diagnostics} == {}


@pytest.mark.parametrize("example", EXAMPLES)
def test_each_example_validates_on_its_own(example: str) -> None:
    run = check_paths([PROFILES / example / "profile.yaml"])
    assert run.ok
    assert [d.render() for r in run.reports for d in r.diagnostics] == []


@pytest.mark.parametrize("example", EXAMPLES)
def test_each_example_is_small_and_fully_rendered(example: str) -> None:
    members = rendered(example)
    assert sum(len(b) for b in members.values()) < 64 * 1024
    for path in members:
        if path.startswith(("unattend/", "custom/scripts/")):
            text_of(members, path)


@pytest.mark.parametrize("example", EXAMPLES)
def test_each_example_builds_reproducibly(example: str, tmp_path: Path) -> None:
    results = [
        build_bundle(BuildRequest(PROFILES / example, tmp_path / out, source_date_epoch=EPOCH))
        for out in ("a", "b")
    ]
    name = load_profile(PROFILES / example).name
    for r in results:
        assert r.result == "success"
        assert r.filename == f"20231114221320_{name}.tar.gz"
    assert results[0].sha256 == results[1].sha256
    with tarfile.open(results[0].path) as tf:
        names = tf.getnames()
    payload = sorted(f"{name}/{path}" for path in rendered(example))
    assert names == [*payload, f"{name}/metadata.json", f"{name}/SHA256SUMS"]


# --- Windows ----------------------------------------------------------------------------------


def test_windows_members_land_where_the_format_says() -> None:
    assert set(rendered("windows-2016-datacenter")) == {
        "drivers/intel-e1d/e1d68x64.cat",
        "drivers/intel-e1d/e1d68x64.inf",
        "drivers/intel-e1d/e1d68x64.sys",
        "boot/WinPE_64.wim",
        "unattend/autounattend.xml",
        "custom/settings/server_settings.json",
        "custom/scripts/post-install.ps1",
        "custom/software/agent.zip",
        "custom/files/tools/README.txt",
        "custom/files/tools/diskpart-layout.txt",
    }


def test_windows_autounattend_renders_to_xml_with_escaped_values() -> None:
    members = rendered("windows-2016-datacenter")
    root = ElementTree.fromstring(text_of(members, "unattend/autounattend.xml"))
    assert root.tag == f"{UNATTEND_NS}unattend"

    def texts(tag: str) -> list[str | None]:
        return [e.text for e in root.iter(f"{UNATTEND_NS}{tag}")]

    assert texts("ComputerName") == ["WIN2016-DC01"]
    assert texts("TimeZone") == ["UTC"]
    assert set(texts("UILanguage")) == {"en-US"}
    # `&`, `<` and `>` in settings values survive as data, not markup.
    assert texts("Organization") == ["Contoso R&D"]
    assert set(texts("Value")) >= {"Ch4nge-Me<2016>!", "Windows Server 2016 SERVERDATACENTERCORE"}
    assert texts("Key") == ["/IMAGE/NAME", "CB7KF-BWN84-R7R2Y-793K2-8XDDG"]


def test_windows_script_and_binaries() -> None:
    members = rendered("windows-2016-datacenter")
    script = text_of(members, "custom/scripts/post-install.ps1")
    assert "$AgentServer  = 'https://mgmt.contoso.example:8443'" in script
    assert "$ProfileName  = 'Custom-2016-datacenter-profile'" in script
    with zipfile.ZipFile(io.BytesIO(members["custom/software/agent.zip"])) as zf:
        assert zf.testzip() is None
        assert "agent/install.cmd" in zf.namelist()
    assert members["drivers/intel-e1d/e1d68x64.sys"][:2] == b"MZ"
    assert members["boot/WinPE_64.wim"][:8] == b"MSWIM\0\0\0"


# --- RHEL (extends the base) ------------------------------------------------------------------


def test_rhel_inherits_the_base_profile() -> None:
    members = rendered("rhel-9")
    assert {
        "custom/settings/common.json",
        "custom/settings/rhel9.json",
        "custom/scripts/harden.sh",
        "custom/scripts/web-post-install.sh",
        "custom/software/contoso-agent-4.2.1.tar.gz",
        "drivers/raid/kmod-megaraid_sas-07.727.03.00-1.el9_4.x86_64.rpm",
        "unattend/ks.cfg",
    } == set(members)
    agent = members["custom/software/contoso-agent-4.2.1.tar.gz"]
    with tarfile.open(fileobj=io.BytesIO(agent)) as tf:
        assert "contoso-agent/install.sh" in tf.getnames()
    harden = text_of(members, "custom/scripts/harden.sh")
    assert 'NTP_SERVERS=("ntp1.corp.contoso.example" "ntp2.corp.contoso.example")' in harden
    assert "for profile RHEL-9.4-web-server" in harden


def test_rhel_kickstart_renders_child_and_base_values() -> None:
    lines = text_of(rendered("rhel-9"), "unattend/ks.cfg").splitlines()
    assert "lang en_US.UTF-8" in lines
    assert "timezone Europe/Berlin --utc" in lines  # the child's value overrides the base's
    assert "timesource --ntp-server=ntp1.corp.contoso.example" in lines  # from the base
    assert "selinux --enforcing" in lines
    network = next(line for line in lines if line.startswith("network "))
    assert "--bootproto=static --device=ens1f0 --ip=10.20.30.41" in network
    assert "--nameserver=10.20.0.53,10.20.1.53" in network
    assert lines.count("%end") == 3


# --- SLES, Ubuntu, ESXi -----------------------------------------------------------------------


def test_sles_autoyast_renders_to_xml() -> None:
    members = rendered("sles-15")
    root = ElementTree.fromstring(text_of(members, "unattend/autoinst.xml"))
    assert root.findtext(f"{YAST_NS}language/{YAST_NS}language") == "en_US"
    assert root.findtext(f"{YAST_NS}timezone/{YAST_NS}timezone") == "America/New_York"
    assert root.findtext(f"{YAST_NS}networking/{YAST_NS}dns/{YAST_NS}hostname") == "db01"
    script = text_of(members, "custom/scripts/tune_db_host.py")
    compile(script, "tune_db_host.py", "exec")
    assert 'SHARED_BUFFERS_MIB = int("8192")' in script


def test_ubuntu_autoinstall_renders_to_yaml() -> None:
    members = rendered("ubuntu-24.04")
    text = text_of(members, "unattend/user-data.yaml")
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)["autoinstall"]
    assert doc["version"] == 1
    assert doc["locale"] == "en_US.UTF-8"
    assert doc["timezone"] == "Europe/London"
    assert doc["keyboard"] == {"layout": "gb"}
    assert doc["identity"]["hostname"] == "k8s-worker-07"
    assert doc["identity"]["password"].startswith("$6$")
    assert doc["ssh"]["authorized-keys"][0].startswith("ssh-ed25519 ")
    assert 'K8S_MINOR="v1.30"' in text_of(members, "custom/scripts/prepare-node.sh")


def test_esxi_kickstart_renders() -> None:
    members = rendered("esxi-8")
    assert not any(p.startswith("drivers/") for p in members)
    lines = text_of(members, "unattend/ks.cfg").splitlines()
    assert lines[2:4] == ["vmaccepteula", "install --firstdisk=local --overwritevmfs"]
    assert "keyboard 'US Default'" in lines
    assert "rootpw VMware1!Ch4nge" in lines
    assert any(line.startswith("network --bootproto=static --device=vmnic0 ") for line in lines)
    script = text_of(members, "custom/scripts/firstboot.sh")
    assert 'NTP0="ntp1.corp.contoso.example"' in script


# --- pre-commit hook --------------------------------------------------------------------------


def hook() -> dict[str, object]:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert isinstance(hooks, list)
    [only] = hooks
    assert isinstance(only, dict)
    return only


def test_pre_commit_hook_definition() -> None:
    h = hook()
    assert h["id"] == "osbundle-validate"
    assert h["entry"] == "osbundle validate --changed"
    assert h["language"] == "python"
    assert h["pass_filenames"] is True
    assert h["require_serial"] is True  # one process: each affected profile checked once


SEGMENT = st.text(alphabet="abcxyz-_.ML", min_size=1, max_size=12)
NEAR_MISSES = ("profile.yaml", "profile.yml", "profile.yaml.bak", "myprofile.yaml", "Profile.yaml")
FILE_NAME = st.one_of(
    SEGMENT,
    st.sampled_from(NEAR_MISSES),
    st.builds(str.__add__, SEGMENT, st.sampled_from(NEAR_MISSES)),
)


@given(dirs=st.lists(SEGMENT, max_size=4), name=FILE_NAME)
def test_pre_commit_hook_is_given_every_staged_file(dirs: list[str], name: str) -> None:
    # A profile depends on files of any name (ks.cfg, a base's settings): `validate --changed`
    # decides which profiles a file affects, so no file is filtered out before it.
    pattern = re.compile(str(hook().get("files", "")))
    assert pattern.search("/".join([*dirs, name]))
    assert "exclude" not in hook()
    assert hook().get("types", ["file"]) == ["file"]


# --- the benchmark corpus generator -----------------------------------------------------------


def sources(doc: dict[str, object]) -> list[str]:
    out = []
    for key in ("drivers", "bootFiles", "unattend", "settings", "scripts", "software", "files"):
        items = doc.get(key) or []
        assert isinstance(items, list)
        out += [item if isinstance(item, str) else item["source"] for item in items]
    return out


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32), index=st.integers(0, 9999))
def test_generated_profiles_have_40_to_120_lines_and_every_source_matches(
    seed: int, index: int
) -> None:
    text, files = GEN.make_profile(index, random.Random(seed))
    assert GEN.MIN_LINES <= text.count("\n") <= GEN.MAX_LINES
    doc = yaml.safe_load(text)
    assert doc["name"].startswith(f"bench-{index:04d}-{doc['os']['family']}-")
    for source in sources(doc):
        pattern = source.replace("**", "*")
        assert any(fnmatch.fnmatchcase(f, pattern) or f.startswith(source + "/") for f in files)
    for path in files:
        assert not path.startswith("/")
        assert ".." not in path.split("/")


def test_generated_corpus_validates_clean(tmp_path: Path) -> None:
    paths = GEN.generate(tmp_path / "corpus", 40, seed=7)
    assert len(paths) == 40
    run = check_paths([tmp_path / "corpus"])
    assert len(run.reports) == 40
    assert [d.render() for r in run.reports for d in r.diagnostics] == []
    families = {yaml.safe_load(p.read_text())["os"]["family"] for p in paths}
    assert families == {"windows", "rhel", "sles", "ubuntu", "esxi"}


def test_generator_is_deterministic(tmp_path: Path) -> None:
    a = GEN.generate(tmp_path / "a", 5, seed=3)
    b = GEN.generate(tmp_path / "b", 5, seed=3)
    for pa, pb in zip(a, b, strict=True):
        files_a = sorted(p.relative_to(pa.parent) for p in pa.parent.rglob("*") if p.is_file())
        files_b = sorted(p.relative_to(pb.parent) for p in pb.parent.rglob("*") if p.is_file())
        assert files_a == files_b
        assert all((pa.parent / f).read_bytes() == (pb.parent / f).read_bytes() for f in files_a)
