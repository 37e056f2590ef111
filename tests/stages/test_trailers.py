"""The spilled trailers: metadata.json streamed from its temporary file is byte for byte
`metadata_json_of`'s, SHA256SUMS is `sha256sums`', and the temporary files are gone after."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osbundle.model import Member, MemberDigest, Profile
from osbundle.stages import trailers as trailers_module
from osbundle.stages.metadata import inventory_json, metadata_json, metadata_json_of, sha256sums
from osbundle.stages.trailers import Spill, Trailers
from osbundle.tarstream.writer import BundleWriter
from tests.stages.test_metadata import JSON_SCALARS, TEXT, members_and_digests, profile_with


def written_trailers(
    profile: Profile, members: list[Member], digests: list[MemberDigest], spill_dir: Path
) -> tuple[dict[str, bytes], int]:
    """The two trailers as written through a real writer and read back; metadata_size()."""
    out = io.BytesIO()
    unattend = [m for m in members if m.kind == "unattend"]
    with Trailers(profile, unattend, spill_dir) as spilled:
        for member, digest in zip(members, digests, strict=True):
            spilled.add(member, digest)
        size = spilled.metadata_size()
        with BundleWriter(out, mtime=0, threads=1) as writer:
            spilled.write(writer)
            writer.close()
    with tarfile.open(fileobj=io.BytesIO(out.getvalue()), mode="r:gz") as tar:
        found = {}
        for info in tar:
            extracted = tar.extractfile(info)
            assert extracted is not None
            found[info.name] = extracted.read()
    return found, size


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    members_and_digests(),
    st.dictionaries(TEXT, JSON_SCALARS | st.lists(JSON_SCALARS, max_size=3), max_size=4),
    st.sampled_from([None, "a", "members"]),
    st.integers(1, 4),  # items per flush
    st.integers(1, 300),  # bytes per read of a spill
)
def test_streamed_trailers_are_the_bytes_of_the_in_memory_ones(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    inventory: tuple[list[Member], list[MemberDigest]],
    install: dict[str, object],
    predefined: str | None,
    flush_items: int,
    read_chunk: int,
) -> None:
    monkeypatch.setattr(trailers_module, "FLUSH_ITEMS", flush_items)
    monkeypatch.setattr(trailers_module, "READ_CHUNK", read_chunk)
    members, digests = inventory
    profile = profile_with(install, predefined)
    found, size = written_trailers(profile, members, digests, tmp_path)
    expected = metadata_json_of(profile, members, list(map(inventory_json, members, digests)))
    assert found["p/metadata.json"] == expected == metadata_json(profile, members, digests)
    assert size == len(expected)
    sums = [(m.path, d.sha256) for m, d in zip(members, digests, strict=True)]
    sums.append(("metadata.json", hashlib.sha256(expected).hexdigest()))
    assert found["p/SHA256SUMS"] == sha256sums(sums)
    assert list(found) == ["p/metadata.json", "p/SHA256SUMS"]


def test_no_members_is_an_empty_inventory(tmp_path: Path) -> None:
    profile = profile_with({}, None)
    found, size = written_trailers(profile, [], [], tmp_path)
    metadata = found["p/metadata.json"]
    assert metadata == metadata_json(profile, [], [])
    assert b'"members":[]' in metadata
    assert size == len(metadata)
    assert found["p/SHA256SUMS"] == sha256sums(
        [("metadata.json", hashlib.sha256(metadata).hexdigest())]
    )


def test_the_spills_are_unnamed_files_in_the_spill_directory_and_closed_after(
    tmp_path: Path,
) -> None:
    opened: list[int] = []
    real = tempfile.TemporaryFile

    def recording(**kwargs: object) -> object:
        assert kwargs == {"dir": tmp_path}
        f = real(dir=tmp_path)
        opened.append(f.fileno())
        return f

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "TemporaryFile", recording)
        with Trailers(profile_with({}, None), [], tmp_path) as spilled:
            spilled.add(Member("a", "file", 0o644, 1, data=b"x"), MemberDigest("p/a", 1, "0", "0"))
            assert len(opened) == 2
            assert os.listdir(tmp_path) == []  # unlinked at once (O_TMPFILE where there is one)
    for fd in opened:
        with pytest.raises(OSError):
            os.fstat(fd)


def test_a_spill_joins_its_items_across_flushes_and_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trailers_module, "FLUSH_ITEMS", 2)
    monkeypatch.setattr(trailers_module, "READ_CHUNK", 3)
    spill = Spill(tmp_path, ",")
    try:
        for item in ("a", "bü", "c", "", "e"):
            spill.add(item)
        assert spill.size() == len("a,bü,c,,e".encode())
        chunks = [bytes(chunk) for chunk in spill.chunks()]
        assert all(0 < len(chunk) <= 3 for chunk in chunks)
        assert b"".join(chunks) == "a,bü,c,,e".encode()
        next(spill.chunks())  # a read left half done
        spill.add("f")
        spill.add("g")  # flushed: appended at the end all the same
        assert b"".join(bytes(c) for c in spill.chunks()) == "a,bü,c,,e,f,g".encode()
    finally:
        spill.close()
