"""Build bundles for tests by hand, following docs/bundle-format.md (no osbundle code involved).

`tarfile` writes the well-formed members; `raw_header`/`pax_record` craft the hostile ones.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xxhash

EPOCH = 315532800
TOP = "Custom-2016-datacenter-profile"


@dataclass(frozen=True)
class FMember:
    path: str  # relative to the top directory
    data: bytes
    kind: str
    mode: int = 0o644
    phase: str | None = None
    name: str | None = None
    rendered: bool = False


def windows_members() -> list[FMember]:
    """A small Windows profile's payload, sorted by path."""
    members = [
        FMember("custom/files/tools/readme.txt", b"read me\n", "file"),
        FMember("custom/files/tools/run.exe", b"MZ" + bytes(300), "file", mode=0o755),
        FMember(
            "custom/scripts/post.ps1",
            b"Write-Host 'hi'\n",
            "script",
            0o755,
            phase="post",
            rendered=True,
        ),
        FMember(
            "custom/settings/server_settings.json",
            b'{"server0": {"locale": "en-US"}}\n',
            "settings",
            name="server_settings",
        ),
        FMember("custom/software/agent.zip", b"PK\x05\x06" + bytes(18), "software"),
        FMember("drivers/intel-e1d/e1d.inf", b"[Version]\n", "driver"),
        FMember("drivers/intel-e1d/e1d.sys", bytes(range(256)) * 40, "driver"),
        FMember(
            "unattend/autounattend.xml",
            b"<unattend>en-US</unattend>\n",
            "unattend",
            name="autounattend",
            rendered=True,
        ),
    ]
    return sorted(members, key=lambda m: m.path.encode())


@dataclass
class Profile:
    name: str = TOP
    id: str = "win2016|win2016-x86_64-install-Standard_core"
    description: str = "Windows Server 2016 Datacenter"
    family: str = "windows"
    release: str = "2016"
    arch: str = "x86_64"
    install: dict[str, Any] = field(
        default_factory=lambda: {"locale": "en-US", "unattend": "autounattend"}
    )


def inventory_item(m: FMember) -> dict[str, Any]:
    item: dict[str, Any] = {
        "path": m.path,
        "kind": m.kind,
        "size": len(m.data),
        "mode": f"{m.mode:04o}",
        "sha256": hashlib.sha256(m.data).hexdigest(),
        "xxh3_128": xxhash.xxh3_128(m.data).hexdigest(),
    }
    if m.phase:
        item["phase"] = m.phase
    if m.name:
        item["name"] = m.name
    if m.rendered:
        item["rendered"] = True
    return item


def metadata_doc(profile: Profile, members: list[FMember]) -> dict[str, Any]:
    unattend = [m for m in members if m.kind == "unattend"]
    formats = {
        "windows": "windows-unattend",
        "rhel": "kickstart",
        "sles": "autoyast",
        "ubuntu": "autoinstall",
        "esxi": "esxi-ks",
    }
    predefined = next((m.path for m in unattend if m.name == profile.install.get("unattend")), None)
    return {
        "formatVersion": 1,
        "profile": {
            "id": profile.id,
            "name": profile.name,
            "description": profile.description,
            "os": {"family": profile.family, "release": profile.release, "arch": profile.arch},
        },
        "installOptions": dict(profile.install),
        "predefinedUnattend": predefined,
        "unattendFiles": [
            {"name": m.name, "path": m.path, "format": formats[profile.family]} for m in unattend
        ],
        "members": [inventory_item(m) for m in members],
    }


def canonical(document: dict[str, Any]) -> bytes:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (text + "\n").encode()


def sums_file(pairs: list[tuple[str, bytes]]) -> bytes:
    return "".join(f"{hashlib.sha256(d).hexdigest()}  {p}\n" for p, d in pairs).encode()


def tar_bytes(entries: list[tuple[str, bytes, int]]) -> bytes:
    """A PAX tar of regular files, normalised as the format says."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, EPOCH
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def bundle_entries(
    members: list[FMember] | None = None, profile: Profile | None = None
) -> list[tuple[str, bytes, int]]:
    """Payload, metadata.json and SHA256SUMS as (name, data, mode), in archive order."""
    members = windows_members() if members is None else members
    profile = profile or Profile()
    metadata = canonical(metadata_doc(profile, members))
    pairs = [(m.path, m.data) for m in members] + [("metadata.json", metadata)]
    entries = [(f"{profile.name}/{m.path}", m.data, m.mode) for m in members]
    entries.append((f"{profile.name}/metadata.json", metadata, 0o644))
    entries.append((f"{profile.name}/SHA256SUMS", sums_file(pairs), 0o644))
    return entries


def gzip_bytes(data: bytes) -> bytes:
    """One gzip member with the format's canonical header (no name, mtime 0, OS unknown)."""
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = deflate.compress(data) + deflate.flush()
    trailer = zlib.crc32(data).to_bytes(4, "little") + (len(data) & 0xFFFFFFFF).to_bytes(
        4, "little"
    )
    return bytes.fromhex("1f8b08000000000000ff") + body + trailer


def write_bundle(
    directory: Path,
    archive: bytes,
    *,
    filename: str = f"20231114221320_{TOP}.tar.gz",
    sha256_file: bool = True,
) -> Path:
    """`archive` (already gzip bytes) at `directory/filename`, plus its `.sha256` beside it."""
    path = directory / filename
    path.write_bytes(archive)
    if sha256_file:
        digest = hashlib.sha256(archive).hexdigest()
        path.with_name(filename + ".sha256").write_text(f"{digest}  {filename}\n")
    return path


def good_bundle(
    directory: Path, members: list[FMember] | None = None, profile: Profile | None = None
) -> Path:
    return write_bundle(directory, gzip_bytes(tar_bytes(bundle_entries(members, profile))))


def raw_header(
    name: str | bytes,
    size: int = 0,
    *,
    typeflag: bytes = b"0",
    mode: int = 0o644,
    magic: bytes = b"ustar\x0000",
    size_field: bytes | None = None,
) -> bytes:
    """One 512-byte ustar header with any name, type and size (checksum fixed up)."""
    raw_name = name.encode() if isinstance(name, str) else name
    block = bytearray(512)
    block[0 : len(raw_name[:100])] = raw_name[:100]
    block[100:108] = f"{mode:07o}\x00".encode()
    block[108:116] = b"0000000\x00"
    block[116:124] = b"0000000\x00"
    if size_field is None:
        # 11 digits and a NUL, or all 12 digits for sizes of 8 GiB up to 64 GiB.
        size_field = f"{size:011o}\x00".encode() if size < 8**11 else f"{size:012o}".encode()
        assert len(size_field) == 12, "too large for an octal size field: use a pax size"
    block[124:136] = size_field
    block[136:148] = f"{EPOCH:011o}\x00".encode()
    block[148:156] = b" " * 8
    block[156:157] = typeflag
    block[257:265] = magic
    block[148:156] = f"{sum(block):06o}\x00 ".encode()
    return bytes(block)


def pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def pax_header(records: bytes) -> bytes:
    """A pax extended header block plus its padded body."""
    return raw_header("././@PaxHeader", len(records), typeflag=b"x") + pad(records)


def pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


def finish_tar(body: bytes) -> bytes:
    """Two zero blocks, then zeros up to a multiple of 10240 bytes."""
    data = body + bytes(1024)
    return data + bytes(-len(data) % 10240)


def regular(name: str, data: bytes, mode: int = 0o644) -> bytes:
    return raw_header(name, len(data), mode=mode) + pad(data)


def tar_case(body: bytes) -> bytes:
    """`body` (raw tar blocks) ended as the format says and gzip-compressed: a hand-made bundle."""
    return gzip_bytes(finish_tar(body))
