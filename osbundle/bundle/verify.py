"""`verify_bundle`: the archive against `<bundle>.sha256`, every member against SHA256SUMS and
metadata.json, and metadata.json against its schema, in one streaming pass."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osbundle.bundle.check import check_scan
from osbundle.bundle.read import scan_bundle
from osbundle.errors import InputError

# RFC 1952 header the format prescribes: deflate, no flags, mtime 0, XFL 0, OS unknown.
CANONICAL_GZIP_HEADER = bytes.fromhex("1f8b08000000000000ff")
MAX_SHA256_FILE = 64 * 1024
_SHA256_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)\n?")


@dataclass(frozen=True)
class VerifyReport:
    path: Path
    ok: bool
    checked: int  # archive members read, trailers included
    problems: tuple[str, ...]  # archive-level first, then by member in archive order
    fast: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "checked": self.checked,
            "fast": self.fast,
            "problems": list(self.problems),
        }


def verify_bundle(path: Path, *, fast: bool = False) -> VerifyReport:
    """Check a bundle; content mismatches are problems, an unreadable/unsafe archive raises.

    `fast` hashes payload members with xxh3-128 only and compares them with the inventory;
    the archive itself is still checked against its `.sha256`.
    """
    scan = scan_bundle(path, sha256=not fast, xxh3=True, archive_sha256=True)
    assert scan.archive_sha256 is not None
    problems = sha256_file_problems(path, scan.archive_sha256)
    if scan.gzip_header != CANONICAL_GZIP_HEADER:
        expected = CANONICAL_GZIP_HEADER.hex()
        problems.append(f"gzip header {scan.gzip_header.hex()} is not the canonical {expected}")
    problems += check_scan(scan, fast=fast)
    return VerifyReport(path, not problems, len(scan.records), tuple(problems), fast)


def sha256_file_problems(path: Path, actual: str) -> list[str]:
    """`<bundle>.sha256` beside the bundle: present, well-formed, naming it, matching."""
    sums = path.with_name(path.name + ".sha256")
    try:
        with sums.open("rb") as f:
            raw = f.read(MAX_SHA256_FILE + 1)
    except FileNotFoundError:
        return ["no .sha256 beside the bundle"]
    except OSError as exc:
        raise InputError(f"cannot read {sums}: {exc.strerror or exc}") from exc
    try:
        match = _SHA256_LINE.fullmatch(raw.decode("utf-8"))
    except UnicodeDecodeError:
        match = None
    if len(raw) > MAX_SHA256_FILE or match is None:
        return [f"{sums.name} is not in `sha256sum -c` format"]
    expected, named = match.group(1).lower(), match.group(2)
    problems = []
    if named != path.name:
        problems.append(f"{sums.name} names {named!r}, not {path.name!r}")
    if expected != actual:
        problems.append(f"the archive's sha256 does not match {sums.name}")
    return problems
