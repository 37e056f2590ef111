"""Generate a corpus of realistic, valid profiles for the validate benchmark.

Each profile is a directory with a profile.yaml of 40-120 lines (every OS family, install
options, every kind of entry, shorthand and mapping items, globs, `dest`) and the tiny files it
names, with macros that resolve, so that schema and semantic checks both pass. The corpus
depends only on `count` and `seed`.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

FAMILY_WEIGHTS = {"windows": 30, "rhel": 25, "sles": 15, "ubuntu": 20, "esxi": 10}
MIN_LINES = 40
MAX_LINES = 120
SECTION_ORDER = ("drivers", "bootFiles", "unattend", "settings", "scripts", "software", "files")

SITES = ("fra1", "lon2", "nyc3", "sin1", "syd2", "ams1", "chi4", "tok1")
ROLES = ("web", "db", "cache", "k8s", "batch", "infra", "storage", "edge")
RELEASES = {
    "windows": ("2016", "2019", "2022"),
    "rhel": ("8.10", "9.2", "9.4"),
    "sles": ("15.4", "15.5", "15.6"),
    "ubuntu": ("22.04", "24.04"),
    "esxi": ("7.0.3", "8.0.2", "8.0.3"),
}
IMAGE_PREFIX = {
    "windows": "win",
    "rhel": "rhels",
    "sles": "sles",
    "ubuntu": "ubuntu",
    "esxi": "esxi",
}
LOCALES = {"windows": "en-US", "esxi": "en-US", "rhel": "en_US.UTF-8", "ubuntu": "en_US.UTF-8"}
LINUX_ZONES = ("Etc/UTC", "Europe/Berlin", "Europe/London", "America/New_York", "Asia/Tokyo")
WINDOWS_ZONES = ("UTC", "W. Europe Standard Time", "Eastern Standard Time", "Tokyo Standard Time")
TARGET_DISKS = ("localDisk", "sanDisk", "m2", "raid", "auto")
IP_MODES = ("dhcpv4", "staticv4", "staticv6", "dhcpv6")
# Product options a profile may add to `install:` (free-form strings, numbers, booleans).
EXTRA_OPTIONS = (
    "bootMode: uefi",
    "secureBoot: true",
    "tpm: true",
    "fips: false",
    "kdump: false",
    "swapSizeMiB: 4096",
    "rootFs: xfs",
    "partitionScheme: lvm",
    'raidLevel: "1"',
    "mtu: 9000",
    "vlanId: 120",
    "bondMode: active-backup",
    "ipv6: false",
    "serialConsole: ttyS0",
    "consoleSpeed: 115200",
    "updateOnInstall: true",
    "ntpSync: true",
    "auditd: true",
    "hostnamePrefix: node",
    "dataDiskCount: 2",
    "powerProfile: performance",
    "assetOwner: platform-engineering",
)


def _tiny_tar_gz() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        data = b"#!/bin/sh\necho installed\n"
        info = tarfile.TarInfo("pkg/install.sh")
        info.size, info.mode, info.mtime = len(data), 0o755, 1700000000
        tf.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


TAR_GZ = _tiny_tar_gz()
EMPTY_ZIP = b"PK\x05\x06" + b"\0" * 18  # a valid, empty zip archive (end-of-central-directory)
MZ_STUB = b"MZ\x90\0" + b"\0" * 56 + b"\x80\0\0\0" + b"\0" * 64 + b"PE\0\0d\x86"
RPM_LEAD = b"\xed\xab\xee\xdb\x03\x00\x00\x00\x00\x01" + b"\0" * 86
DEB_STUB = b"!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n"


@dataclass(frozen=True)
class UnattendSpec:
    path: str
    name: str
    body: bytes


_WINDOWS_XML = """<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend">
  <settings pass="specialize">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64">
      <ComputerName>#host.hostname#</ComputerName>
      <TimeZone>#predefined.otherSettings.timeZone#</TimeZone>
      <RegisteredOrganization>#site.name#</RegisteredOrganization>
    </component>
  </settings>
</unattend>
"""
_KICKSTART = """lang #predefined.otherSettings.installLocale#
keyboard --vckeymap=us
timezone #predefined.otherSettings.timeZone# --utc
network --bootproto=static --ip=#host.ip# --netmask=#host.netmask# --gateway=#host.gateway#
network --hostname=#host.hostname# --nameserver=#site.dns.server0#
rootpw --lock
%packages
@^minimal-environment
%end
"""
_AUTOYAST = """<?xml version="1.0"?>
<profile xmlns="http://www.suse.com/1.0/yast2ns">
  <language><language>#predefined.otherSettings.installLocale#</language></language>
  <timezone><timezone>#predefined.otherSettings.timeZone#</timezone></timezone>
  <networking><dns><hostname>#host.hostname#</hostname></dns></networking>
</profile>
"""
_AUTOINSTALL = """#cloud-config
autoinstall:
  version: 1
  locale: "#predefined.otherSettings.installLocale#"
  timezone: "#predefined.otherSettings.timeZone#"
  identity:
    hostname: "#host.hostname#"
    username: "#host.adminUser#"
    password: "!"
  storage:
    layout:
      name: lvm
"""
_ROOT_HASH = (
    "$6$Q2DRrR1sGC3PXuIX$ki29lM6GG6MkTXsybyPensMMNeF670r37tmUq.t5UwtA"
    "//FDMxJepsutrbruv147azj4zf1uWSTRJPCOXzn0C1"
)
_ESXI_KS = (
    "vmaccepteula\n"
    "install --firstdisk --overwritevmfs\n"
    f"rootpw --iscrypted {_ROOT_HASH}\n"
    "network --bootproto=static --ip=#host.ip# --netmask=#host.netmask# --gateway=#host.gateway#"
    " --hostname=#host.hostname# --nameserver=#site.dns.server0#\n"
    "reboot\n"
)
UNATTEND = {
    "windows": UnattendSpec("unattend/autounattend.xml", "autounattend", _WINDOWS_XML.encode()),
    "rhel": UnattendSpec("unattend/ks.cfg", "ks", _KICKSTART.encode()),
    "sles": UnattendSpec("unattend/autoinst.xml", "autoinst", _AUTOYAST.encode()),
    "ubuntu": UnattendSpec("unattend/user-data", "user-data", _AUTOINSTALL.encode()),
    "esxi": UnattendSpec("unattend/ks.cfg", "ks", _ESXI_KS.encode()),
}


@dataclass
class Draft:
    """One profile being generated: YAML sections as line lists, and the files to write."""

    index: int
    family: str
    rng: random.Random
    head: list[str] = field(default_factory=list)
    install: list[str] = field(default_factory=list)
    sections: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    options_left: list[str] = field(default_factory=list)

    def add(self, key: str, lines: list[str], files: dict[str, bytes]) -> None:
        self.sections.setdefault(key, []).extend(lines)
        self.files.update(files)

    def text(self) -> str:
        out = [*self.head, "install:", *self.install]
        for key in SECTION_ORDER:
            if key in self.sections:
                out += [f"{key}:", *self.sections[key]]
        return "\n".join(out) + "\n"


def _head(d: Draft, site: str, role: str) -> None:
    fam, i = d.family, d.index
    release = d.rng.choice(RELEASES[fam])
    image = IMAGE_PREFIX[fam] + release
    d.head = [
        f"# Benchmark profile {i:04d}: {fam} {release} {role} servers at {site}.",
        f'id: "{image}|{image}-x86_64-install-{role}_{i:04d}"',
        f"name: bench-{i:04d}-{fam}-{role}",
        f"description: {fam} {release} {role} servers at site {site} (generated)",
        "os:",
        f"  family: {fam}",
        f'  release: "{release}"',
        "  arch: "
        + (
            "x86_64" if fam in ("windows", "esxi") else d.rng.choice(("x86_64",) * 3 + ("aarch64",))
        ),
    ]
    zones = WINDOWS_ZONES if fam == "windows" else LINUX_ZONES
    d.install = [
        f"  locale: {LOCALES.get(fam, 'en_US')}",
        f"  timeZone: {d.rng.choice(zones)}",
        f"  targetDisk: {d.rng.choice(TARGET_DISKS)}",
        f"  ipAssignment: {d.rng.choice(IP_MODES)}",
        f"  unattend: {UNATTEND[fam].name}",
    ]
    d.options_left = list(EXTRA_OPTIONS)
    d.rng.shuffle(d.options_left)


def _settings(d: Draft, site: str) -> None:
    i = d.index
    host = {
        "hostname": f"{site}-{d.family}-{i:04d}",
        "ip": f"10.{i // 250}.{i % 250}.{10 + i % 200}",
        "netmask": "255.255.255.0",
        "gateway": f"10.{i // 250}.{i % 250}.1",
        "adminUser": "ops",
    }
    site_doc = {
        "name": site,
        "ntp": {"server0": f"ntp1.{site}.example", "server1": f"ntp2.{site}.example"},
        "dns": {"server0": "10.0.0.53", "search": f"{site}.example"},
        "proxy": f"http://proxy.{site}.example:3128",
    }
    d.add(
        "settings",
        ["  - source: settings/site.json", "    namespace: site", "  - settings/host.json"],
        {
            "settings/site.json": json.dumps(site_doc, indent=2).encode() + b"\n",
            "settings/host.json": json.dumps(host, indent=2).encode() + b"\n",
        },
    )


def _script(d: Draft, step: str, ext: str) -> bytes:
    if ext == ".ps1":
        return (
            f"# {step} for #predefined.profile.name#\r\n$ErrorActionPreference = 'Stop'\r\n"
            "Write-Output 'host #host.hostname# at site #site.name#'\r\n"
        ).encode()
    if ext == ".py":
        return f'#!/usr/bin/python3\n# {step}\nprint("host #host.hostname#")\n'.encode()
    return (
        f"#!/bin/sh\n# {step} for #predefined.profile.name#\nset -eu\n"
        'echo "host #host.hostname# ntp #site.ntp.server0#"\n'
    ).encode()


def _scripts(d: Draft) -> None:
    pre = "scripts/00-precheck" + (".ps1" if d.family == "windows" else ".sh")
    lines = [f"  - source: {pre}", "    phase: pre"]
    files = {pre: _script(d, "precheck", Path(pre).suffix)}
    exts = (".ps1",) if d.family == "windows" else (".sh", ".sh", ".py")
    for n in range(1, d.rng.randint(2, 4)):
        ext = d.rng.choice(exts)
        name = f"scripts/{n * 10:02d}-step{n}{ext}"
        files[name] = _script(d, f"step {n}", ext)
        lines += [f"  - source: {name}"] + (["    phase: post"] if d.rng.random() < 0.6 else [])
    d.add("scripts", lines, files)


def _windows_drivers(d: Draft) -> None:
    lines: list[str] = []
    files: dict[str, bytes] = {}
    for n in range(d.rng.randint(1, 3)):
        folder = f"drivers/{d.rng.choice(('intel', 'broadcom', 'mellanox', 'lsi'))}-{n}"
        stem = f"drv{n}x64"
        inf = f'[Version]\r\nSignature = "$Windows NT$"\r\nCatalogFile = {stem}.cat\r\n'
        files |= {
            f"{folder}/{stem}.inf": inf.encode(),
            f"{folder}/{stem}.sys": MZ_STUB,
            f"{folder}/{stem}.cat": b"\x30\x82\x00\x10" + b"\0" * 16,
        }
        lines += [f"  - {folder}"] if n % 2 == 0 else [f"  - source: {folder}", "    dest: net"]
    d.add("drivers", lines, files)
    d.add("bootFiles", ["  - source: boot/WinPE_64.wim"], {"boot/WinPE_64.wim": b"MSWIM\0\0\0"})


def _linux_drivers(d: Draft) -> None:
    ext, stub = (".deb", DEB_STUB) if d.family == "ubuntu" else (".rpm", RPM_LEAD)
    count = d.rng.randint(0, 3)
    if count == 0:
        return
    files = {f"drivers/dd-storage{n}-1.0{ext}": stub for n in range(count)}
    if d.rng.random() < 0.5:
        d.add("drivers", [f'  - source: "drivers/*{ext}"', "    dest: storage"], files)
    else:
        d.add("drivers", [f"  - {name}" for name in sorted(files)], files)


def _software(d: Draft) -> None:
    fam = d.family
    name, data = {
        "windows": ("software/agent.zip", EMPTY_ZIP),
        "esxi": ("software/tools-bundle.zip", EMPTY_ZIP),
        "ubuntu": ("software/agent_4.2_amd64.deb", DEB_STUB),
    }.get(fam, ("software/agent-4.2.tar.gz", TAR_GZ))
    d.add("software", [f"  - source: {name}"], {name: data})


NOTES = (
    "keep in sync with the CMDB record",
    "owned by platform engineering",
    "reviewed for the quarterly hardening baseline",
    "see the runbook before changing",
)


def _extra(d: Draft, n: int) -> None:
    """Grow the profile by one thing: an install option, a comment, a script, a driver or a file."""
    roll = d.rng.random()
    if roll < 0.2 and d.options_left:
        d.install.append("  " + d.options_left.pop())
    elif roll < 0.35:
        key = d.rng.choice([k for k in SECTION_ORDER if k in d.sections])
        d.sections[key].append(f"  # {d.rng.choice(NOTES)}")
    elif roll < 0.55:
        ext = ".ps1" if d.family == "windows" else ".sh"
        name = f"scripts/extra/{n:02d}-task{ext}"
        d.add(
            "scripts", [f"  - source: {name}", "    phase: post"], {name: _script(d, "task", ext)}
        )
    elif roll < 0.65 and d.family == "windows":
        folder = f"drivers/extra-{n}"
        inf = b'[Version]\r\nSignature = "$Windows NT$"\r\n'
        d.add(
            "drivers", [f"  - {folder}"], {f"{folder}/x{n}.inf": inf, f"{folder}/x{n}.sys": MZ_STUB}
        )
    elif roll < 0.8:
        name = f"files/conf/app{n}.conf"
        d.add(
            "files", [f"  - source: {name}", f"    dest: etc/app{n}"], {name: b"enabled = true\n"}
        )
    else:
        name = f"files/notes/note{n}.txt"
        d.add("files", [f"  - {name}"], {name: b"ok\n"})


def make_profile(index: int, rng: random.Random) -> tuple[str, dict[str, bytes]]:
    """The profile.yaml text and the files (path -> bytes) of profile number `index`."""
    family = rng.choices(list(FAMILY_WEIGHTS), weights=list(FAMILY_WEIGHTS.values()))[0]
    d = Draft(index, family, rng)
    site, role = rng.choice(SITES), rng.choice(ROLES)
    _head(d, site, role)
    if family == "windows":
        _windows_drivers(d)
    elif family != "esxi":
        _linux_drivers(d)
    spec = UNATTEND[family]
    d.add(
        "unattend", [f"  - source: {spec.path}", f"    name: {spec.name}"], {spec.path: spec.body}
    )
    _settings(d, site)
    _scripts(d)
    _software(d)
    if rng.random() < 0.3:
        d.add(
            "files",
            ['  - source: "extras/**"', "    dest: tools"],
            {"extras/bin/tool.sh": b"true\n"},
        )
    target = rng.randint(MIN_LINES, MAX_LINES - 1)  # one step adds up to 2 lines
    n = 0
    while d.text().count("\n") < target:
        _extra(d, n)
        n += 1
    return d.text(), d.files


def generate(root: Path, count: int, seed: int) -> list[Path]:
    """Write `count` profiles under `root` (which must not exist); their profile.yaml paths."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    out: list[Path] = []
    for index in range(count):
        text, files = make_profile(index, rng)
        lines = text.count("\n")
        if not MIN_LINES <= lines <= MAX_LINES:
            raise AssertionError(f"profile {index} has {lines} lines")
        pdir = root / f"p{index:04d}"
        for rel, data in files.items():
            path = pdir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (pdir / "profile.yaml").write_text(text, encoding="utf-8")
        out.append(pdir / "profile.yaml")
    return out
