"""verify_bundle: .sha256, SHA256SUMS, metadata inventory and schema, fast mode."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from osbundle.bundle.verify import verify_bundle
from osbundle.errors import BundleError
from tests import bundle_factory as bf

SYS = f"{bf.TOP}/drivers/intel-e1d/e1d.sys"


def rewrite(bundle: Path, tar: bytes) -> None:
    """Replace the archive with a fresh gzip of `tar` and a matching .sha256."""
    bf.write_bundle(bundle.parent, bf.gzip_bytes(tar), filename=bundle.name)


def flip_member_byte(tar: bytes, data: bytes, at: int = 5) -> bytes:
    start = tar.index(data)
    out = bytearray(tar)
    out[start + at] ^= 0x01
    return bytes(out)


def test_good_bundle_verifies(tmp_path: Path) -> None:
    bundle = bf.good_bundle(tmp_path)
    for fast in (False, True):
        report = verify_bundle(bundle, fast=fast)
        assert report.ok, report.problems
        assert report.problems == ()
        assert report.checked == len(bf.windows_members()) + 2
        assert json.loads(json.dumps(report.to_json()))["ok"] is True


def test_flipped_byte_names_the_member(tmp_path: Path) -> None:
    bundle = bf.good_bundle(tmp_path)
    sys_data = next(m.data for m in bf.windows_members() if m.path.endswith("e1d.sys"))
    tar = flip_member_byte(bf.tar_bytes(bf.bundle_entries()), sys_data, at=1000)
    rewrite(bundle, tar)  # only the tar content differs: gzip and .sha256 are consistent
    report = verify_bundle(bundle)
    assert not report.ok
    assert report.problems == (
        f"{SYS}: sha256 differs from metadata.json",
        f"{SYS}: xxh3_128 differs from metadata.json",
        f"{SYS}: sha256 differs from SHA256SUMS",
    )
    fast = verify_bundle(bundle, fast=True)
    assert fast.problems == (f"{SYS}: xxh3_128 differs from metadata.json",)


def test_first_bad_member_is_reported_first(tmp_path: Path) -> None:
    bundle = bf.good_bundle(tmp_path)
    members = bf.windows_members()
    tar = bf.tar_bytes(bf.bundle_entries())
    for m in (members[-1], members[0]):  # tamper with the last payload member, then the first
        tar = flip_member_byte(tar, m.data, at=2)
    rewrite(bundle, tar)
    problems = verify_bundle(bundle).problems
    assert problems[0].startswith(f"{bf.TOP}/{members[0].path}: ")
    assert problems[-1].startswith(f"{bf.TOP}/{members[-1].path}: ")


def test_fast_mode_hashes_payload_with_xxh3_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = bf.good_bundle(tmp_path)
    fed: list[int] = []
    real = hashlib.sha256

    class Counting:
        def __init__(self, data: bytes = b"") -> None:
            self._h = real(data)
            fed.append(len(data))

        def update(self, data: bytes) -> None:
            fed.append(len(data))
            self._h.update(data)

        def hexdigest(self) -> str:
            return self._h.hexdigest()

    monkeypatch.setattr(hashlib, "sha256", Counting)  # the reader calls hashlib.sha256
    assert verify_bundle(bundle, fast=True).ok
    fast_bytes = sum(fed)
    fed.clear()
    assert verify_bundle(bundle).ok
    payload = sum(len(m.data) for m in bf.windows_members())
    assert sum(fed) - fast_bytes == payload  # full mode adds exactly the payload to sha256


def test_fast_mode_cross_checks_sums_against_metadata(tmp_path: Path) -> None:
    entries = bf.bundle_entries()
    name, sums, mode = entries[-1]
    first = sums.split(b"\n")[0]
    bad = (b"0" * 64) + first[64:]
    entries[-1] = (name, sums.replace(first, bad), mode)
    bundle = bf.write_bundle(tmp_path, bf.gzip_bytes(bf.tar_bytes(entries)))
    member = f"{bf.TOP}/{bf.windows_members()[0].path}"
    assert verify_bundle(bundle, fast=True).problems == (
        f"{member}: SHA256SUMS and metadata.json disagree on its sha256",
    )
    assert verify_bundle(bundle).problems == (f"{member}: sha256 differs from SHA256SUMS",)


def test_missing_sha256_file_is_a_problem(tmp_path: Path) -> None:
    archive = bf.gzip_bytes(bf.tar_bytes(bf.bundle_entries()))
    bundle = bf.write_bundle(tmp_path, archive, sha256_file=False)
    report = verify_bundle(bundle)
    assert not report.ok
    assert report.problems == ("no .sha256 beside the bundle",)


def test_mismatched_sha256_file_names_the_file(tmp_path: Path) -> None:
    bundle = bf.good_bundle(tmp_path)
    sums = bundle.with_name(bundle.name + ".sha256")
    sums.write_text(f"{'ab' * 32}  {bundle.name}\n")
    assert verify_bundle(bundle).problems == (f"{bundle.name}: sha256 does not match {sums.name}",)
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    sums.write_text(f"{digest}  other.tar.gz\n")
    assert verify_bundle(bundle).problems == (
        f"{sums.name} names 'other.tar.gz', not {bundle.name!r}",
    )
    sums.write_text("garbage\n")
    assert verify_bundle(bundle).problems == (f"{sums.name} is not in `sha256sum -c` format",)


def test_truncated_gzip_raises(tmp_path: Path) -> None:
    archive = bf.gzip_bytes(bf.tar_bytes(bf.bundle_entries()))
    bundle = bf.write_bundle(tmp_path, archive[: len(archive) // 2])
    with pytest.raises(BundleError, match="truncated gzip stream"):
        verify_bundle(bundle)


def tampered(tmp_path: Path, edit: Any) -> tuple[str, ...]:
    """Problems of a bundle whose (member list, metadata doc) `edit` changed; trailers follow."""
    members = bf.windows_members()
    doc = bf.metadata_doc(bf.Profile(), members)
    members, doc = edit(members, doc)
    metadata = bf.canonical(doc)
    pairs = [(m.path, m.data) for m in members] + [("metadata.json", metadata)]
    entries = [(f"{bf.TOP}/{m.path}", m.data, m.mode) for m in members]
    entries += [(f"{bf.TOP}/metadata.json", metadata, 0o644)]
    entries += [(f"{bf.TOP}/SHA256SUMS", bf.sums_file(pairs), 0o644)]
    return verify_bundle(bf.write_bundle(tmp_path, bf.gzip_bytes(bf.tar_bytes(entries)))).problems


def test_unlisted_missing_and_duplicate_members(tmp_path: Path) -> None:
    def edit(members: list[bf.FMember], doc: dict[str, Any]) -> Any:
        extra = bf.FMember("custom/files/zz-extra.txt", b"x", "file")
        dup = members[0]
        doc["members"].append(bf.inventory_item(bf.FMember("custom/files/zz-gone", b"", "file")))
        return [*members[:1], dup, *members[1:], extra], doc

    problems = tampered(tmp_path, edit)
    first = f"{bf.TOP}/{bf.windows_members()[0].path}"
    assert problems[0] == f"{first}: duplicate member name"
    assert (
        f"{bf.TOP}/custom/files/zz-extra.txt: in the archive but not listed in metadata.json"
        in (problems)
    )
    assert (
        f"{bf.TOP}/custom/files/zz-gone: listed in metadata.json but missing from the archive"
        in (problems)
    )


def test_metadata_schema_and_canonical_form(tmp_path: Path) -> None:
    def edit(members: list[bf.FMember], doc: dict[str, Any]) -> Any:
        doc["formatVersion"] = 2
        return members, doc

    problems = tampered(tmp_path, edit)
    assert any("does not match its schema at .formatVersion" in p for p in problems)

    entries = bf.bundle_entries()
    name, raw, mode = entries[-2]
    pretty = json.dumps(json.loads(raw), indent=1).encode() + b"\n"
    entries[-2] = (name, pretty, mode)
    bundle = bf.write_bundle(tmp_path, bf.gzip_bytes(bf.tar_bytes(entries)))
    problems = verify_bundle(bundle).problems
    assert "metadata.json is not canonical JSON" in problems[0]
    assert problems[1] == f"{bf.TOP}/metadata.json: sha256 differs from SHA256SUMS"


def test_windows_case_collisions_and_order(tmp_path: Path) -> None:
    def edit(members: list[bf.FMember], doc: dict[str, Any]) -> Any:
        twin = bf.FMember("custom/files/TOOLS/readme.txt", b"y", "file")
        members = sorted([*members, twin], key=lambda m: m.path.encode())
        return members, bf.metadata_doc(bf.Profile(), members)

    problems = tampered(tmp_path, edit)
    assert problems == (
        f"{bf.TOP}/custom/files/tools/readme.txt: collides with 'custom/files/TOOLS/readme.txt' "
        "when case is ignored",
    )


def test_out_of_order_payload_and_trailers(tmp_path: Path) -> None:
    entries = bf.bundle_entries()
    entries[0], entries[1] = entries[1], entries[0]
    entries[-1], entries[-2] = entries[-2], entries[-1]
    bundle = bf.write_bundle(tmp_path, bf.gzip_bytes(bf.tar_bytes(entries)))
    problems = verify_bundle(bundle).problems
    assert any("out of order" in p for p in problems)
    assert "metadata.json is not the second-to-last member" in problems
    assert "SHA256SUMS is not the last member" in problems


def test_non_canonical_gzip_header_is_a_problem(tmp_path: Path) -> None:
    tar = bf.tar_bytes(bf.bundle_entries())
    bundle = bf.write_bundle(tmp_path, gzip.compress(tar, compresslevel=9, mtime=0))
    problems = verify_bundle(bundle).problems
    assert problems == (
        "gzip header 1f8b0800000000000203 is not the canonical 1f8b08000000000000ff",
    )


def test_metadata_schema_is_valid_draft_2020_12() -> None:
    from importlib.resources import files

    schema = json.loads((files("osbundle") / "schemas" / "metadata.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_bundle_writer_output_verifies(tmp_path: Path) -> None:
    from osbundle.tarstream.writer import BundleWriter

    members = bf.windows_members()
    metadata = bf.canonical(bf.metadata_doc(bf.Profile(), members))
    out = tmp_path / "w.tar.gz"
    with out.open("wb") as f:
        writer = BundleWriter(f, mtime=bf.EPOCH, compression="default", threads=2)
        for m in members:
            source = tmp_path / m.path.replace("/", "_")
            source.write_bytes(m.data)
            st = source.stat()
            writer.add_file(
                f"{bf.TOP}/{m.path}", source, size=st.st_size, mode=m.mode, mtime_ns=st.st_mtime_ns
            )
        writer.add_bytes(f"{bf.TOP}/metadata.json", metadata, mode=0o644)
        pairs = [(m.path, m.data) for m in members] + [("metadata.json", metadata)]
        writer.add_bytes(f"{bf.TOP}/SHA256SUMS", bf.sums_file(pairs), mode=0o644)
        result = writer.close()
    (tmp_path / "w.tar.gz.sha256").write_text(f"{result.sha256}  w.tar.gz\n")
    report = verify_bundle(out)
    assert report.ok, report.problems
    assert bf.tar_bytes(bf.bundle_entries()) == zlib.decompress(out.read_bytes(), 31)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_bit_flip_in_member_content_is_caught(data: st.DataObject) -> None:
    import tempfile

    members = bf.windows_members()
    member = data.draw(st.sampled_from([m for m in members if m.data]))
    offset = data.draw(st.integers(0, len(member.data) - 1))
    bit = data.draw(st.integers(0, 7))
    tar = bytearray(bf.tar_bytes(bf.bundle_entries()))
    tar[tar.index(member.data) + offset] ^= 1 << bit
    with tempfile.TemporaryDirectory() as tmp:
        bundle = bf.write_bundle(Path(tmp), bf.gzip_bytes(bytes(tar)))
        for fast in (False, True):
            report = verify_bundle(bundle, fast=fast)
            assert not report.ok
            assert report.problems[0].startswith(f"{bf.TOP}/{member.path}: ")


def test_nonzero_member_padding_is_refused(tmp_path: Path) -> None:
    tar = bytearray(bf.tar_bytes(bf.bundle_entries()))
    first = bf.windows_members()[0]
    tar[tar.index(first.data) + len(first.data)] = 0x41
    bundle = bf.write_bundle(tmp_path, bf.gzip_bytes(bytes(tar)))
    with pytest.raises(BundleError, match="non-zero padding after member"):
        verify_bundle(bundle)
