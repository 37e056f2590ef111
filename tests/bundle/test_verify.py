"""verify_bundle end to end: the .sha256 file, the gzip header, fast mode, tampered content."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from osbundle.bundle.verify import verify_bundle
from osbundle.errors import BundleError
from tests import bundle_factory as bf
from tests.origins import collected


def test_good_bundle_verifies(tmp_path: Path) -> None:
    bundle = bf.good_bundle(tmp_path)
    for fast in (False, True):
        report = verify_bundle(bundle, fast=fast)
        assert report.ok, report.problems
        assert report.problems == ()
        assert report.checked == len(bf.windows_members()) + 2
        assert json.loads(json.dumps(report.to_json()))["ok"] is True


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
    assert verify_bundle(bundle).problems == (f"the archive's sha256 does not match {sums.name}",)
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
            writer.add_file(f"{bf.TOP}/{m.path}", source, collected(source), mode=m.mode)
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
