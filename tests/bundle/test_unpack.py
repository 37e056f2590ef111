"""unpack_bundle: the profile tree and profile.yaml, safety, cleanup and the build round trip."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from osbundle.bundle import unpack
from osbundle.bundle.unpack import UnpackResult, unpack_bundle
from osbundle.errors import BundleError, InputError
from tests import bundle_factory as bf
from tests.factory import PROFILES
from tests.planted import assert_untouched, plant


def tree(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_unpack_writes_the_profile_tree(tmp_path: Path) -> None:
    bundle = bf.good_bundle(tmp_path)
    result = unpack_bundle(bundle, tmp_path / "out")
    members = bf.windows_members()
    expected = {m.path: m.mode for m in members} | {"profile.yaml": 0o644}
    assert tree(tmp_path / "out") == expected
    for m in members:
        assert (tmp_path / "out" / m.path).read_bytes() == m.data
    assert result.files == len(members)
    assert result.bytes == sum(len(m.data) for m in members)
    assert result.profile_name == bf.TOP
    assert result.source_date_epoch == bf.EPOCH
    assert result.notes == ()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [bundle.name, bundle.name + ".sha256", "out"]
    )


def test_already_rendered_text_that_looks_like_a_macro_is_not_rendered_again(
    tmp_path: Path,
) -> None:
    members = [
        bf.FMember(
            "custom/scripts/a.sh", b"echo '#x.y#'\n", "script", 0o755, phase="pre", rendered=True
        ),
        bf.FMember("custom/scripts/b.sh", b"echo plain\n", "script", 0o755, phase="post"),
    ]
    profile = bf.Profile(family="rhel", id="rhel9|x", install={})
    result = unpack_bundle(bf.good_bundle(tmp_path, members, profile), tmp_path / "out")
    doc = yaml.safe_load((tmp_path / "out" / "profile.yaml").read_text())
    assert doc["scripts"] == [
        {"source": "custom/scripts/a.sh", "phase": "pre", "render": False},
        {"source": "custom/scripts/b.sh", "phase": "post", "render": False},
    ]
    assert len(result.notes) == 1
    assert result.notes[0].startswith("custom/scripts/a.sh: ")


def test_destination_rules(tmp_path: Path) -> None:
    bundle = bf.good_bundle(tmp_path)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InputError, match="is not empty"):
        unpack_bundle(bundle, tmp_path / "full")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        unpack_bundle(bundle, tmp_path / "file")
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InputError, match="is a symlink"):
        unpack_bundle(bundle, tmp_path / "link")
    (tmp_path / "empty").mkdir()
    assert unpack_bundle(bundle, tmp_path / "empty").files == len(bf.windows_members())


def test_failed_unpack_leaves_nothing(tmp_path: Path) -> None:
    tar = bytearray(bf.tar_bytes(bf.bundle_entries()))
    last = bf.windows_members()[-1]
    tar[tar.index(last.data)] ^= 0x20
    bundle = bf.write_bundle(tmp_path, bf.gzip_bytes(bytes(tar)))
    with pytest.raises(BundleError, match=f"^{bundle}: {bf.TOP}/{last.path}: sha256 differs"):
        unpack_bundle(bundle, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == [bundle.name, bundle.name + ".sha256"]


def test_member_outside_a_kind_directory_is_refused(tmp_path: Path) -> None:
    members = [bf.FMember("profile.yaml", b"id: evil\n", "file")]
    bundle = bf.good_bundle(tmp_path, members)
    with pytest.raises(BundleError, match=f"^{bundle}: member .* is not in a kind directory"):
        unpack_bundle(bundle, tmp_path / "out")
    assert not (tmp_path / "out").exists()


SEGMENTS = st.sampled_from(
    ["p", "custom", "files", "drivers", "..", ".", "", "x", "a\\b", "é", "[a]", "*", "\n", "~"]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(SEGMENTS, min_size=1, max_size=6), min_size=1, max_size=4), st.booleans())
def test_random_member_names_never_write_outside_dest(
    names: list[list[str]], absolute: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sandbox = root / "sandbox"
        sandbox.mkdir()
        body = b""
        for parts in names:
            name = ("/" if absolute else "") + "/".join(parts)
            body += bf.pax_header(bf.pax_record("path", name)) + bf.regular("p/placeholder", b"z")
        bundle = bf.write_bundle(root, bf.gzip_bytes(bf.finish_tar(body)))
        dest = sandbox / "dest"
        message = ""
        try:
            unpack_bundle(bundle, dest)
        except (BundleError, InputError) as exc:
            message = str(exc)
        assert "\n" not in message
        outside = {p.relative_to(root).as_posix() for p in root.rglob("*")}
        inside = {p for p in outside if p == "sandbox/dest" or p.startswith("sandbox/dest/")}
        assert outside - inside == {"sandbox", bundle.name, bundle.name + ".sha256"}
        for p in dest.rglob("*") if dest.exists() else []:
            assert not p.is_symlink()
            assert os.path.realpath(p).startswith(os.path.realpath(dest) + os.sep)


@pytest.mark.parametrize(
    "profile", sorted(p.name for p in PROFILES.iterdir() if (p / "profile.yaml").is_file())
)
def test_build_unpack_build_gives_the_same_bytes(profile: str, tmp_path: Path) -> None:
    from osbundle.model import BuildRequest
    from osbundle.pipeline import build_bundle

    first = build_bundle(
        BuildRequest(PROFILES / profile, tmp_path / "a", source_date_epoch=1700000000)
    )
    assert first.result == "success", first.messages
    result = unpack_bundle(Path(first.path), tmp_path / "unpacked")
    assert result.source_date_epoch == 1700000000
    second = build_bundle(
        BuildRequest(
            tmp_path / "unpacked", tmp_path / "b", source_date_epoch=result.source_date_epoch
        )
    )
    assert second.result == "success", second.messages
    assert Path(second.path).read_bytes() == Path(first.path).read_bytes()


# Issue 9, items 1 and 2: nothing planted in or at the temporary tree is followed, and a failed
# commit leaves no destination.


def planted_staging(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, plant_in: Callable[[Path], None]
) -> None:
    """mkdtemp's directory, with `plant_in` run on it first (what a racing process could do)."""
    mkdtemp = tempfile.mkdtemp

    def planting_mkdtemp(prefix: str, dir: Path) -> str:
        made = mkdtemp(prefix=prefix, dir=dir)
        plant_in(Path(made))
        return made

    monkeypatch.setattr(tempfile, "mkdtemp", planting_mkdtemp)


@pytest.mark.parametrize("kind", ["file", "dangling", "dir", "fifo"])
def test_a_link_planted_in_the_temporary_tree_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    bundle = bf.good_bundle(tmp_path)
    outside = tmp_path / "outside"
    targets: list[Path | None] = []

    def plant_member(staging: Path) -> None:
        (staging / "custom" / "files" / "tools").mkdir(parents=True)
        targets.append(plant(kind, staging / "custom/files/tools/readme.txt", outside))

    planted_staging(monkeypatch, tmp_path, plant_member)
    with pytest.raises(BundleError, match=r"tools/readme\.txt.* (refused|is written twice)"):
        unpack_bundle(bundle, tmp_path / "out")
    assert_untouched(kind, targets[0])
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_a_directory_link_planted_in_the_temporary_tree_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = bf.good_bundle(tmp_path)
    targets: list[Path | None] = []
    planted_staging(
        monkeypatch, tmp_path, lambda s: targets.append(plant("dir", s / "custom", tmp_path / "o"))
    )
    with pytest.raises(BundleError, match=r"readme\.txt.* refused: .* outside the destination"):
        unpack_bundle(bundle, tmp_path / "out")
    assert_untouched("dir", targets[0])
    assert not (tmp_path / "out").exists()


def test_a_temporary_tree_swapped_for_a_link_is_not_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = bf.good_bundle(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o700)
    unpack_into = unpack.unpack_into

    def swapped(path: Path, staging: Path, dest: Path) -> UnpackResult:
        result = unpack_into(path, staging, dest)
        staging.rename(tmp_path / "moved")
        staging.symlink_to(victim)
        return result

    monkeypatch.setattr(unpack, "unpack_into", swapped)
    with pytest.raises(InputError, match=r"cannot create .*out"):
        unpack_bundle(bundle, tmp_path / "out")
    assert stat.S_IMODE(victim.stat().st_mode) == 0o700  # not chmod-ed through the link
    assert not (tmp_path / "out").exists()


def test_a_failed_directory_fsync_leaves_no_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = bf.good_bundle(tmp_path)
    (tmp_path / "empty").mkdir()

    def failing_fsync_dir(path: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(unpack, "fsync_dir", failing_fsync_dir)
    for dest in (tmp_path / "out", tmp_path / "empty"):
        with pytest.raises(InputError, match=f"^cannot create {dest}: Input/output error$"):
            unpack_bundle(bundle, dest)
    assert not (tmp_path / "out").exists()
    assert list((tmp_path / "empty").iterdir()) == []  # the empty directory it was given
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [bundle.name, bundle.name + ".sha256", "empty"]
    )


def test_a_write_failure_names_the_destination_not_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    bundle = bf.good_bundle(tmp_path)
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(BundleError) as info:
        unpack_bundle(bundle, tmp_path / "out")
    first = bf.windows_members()[0].path
    assert str(info.value) == f"cannot write '{tmp_path / 'out'}/{first}': No space left on device"
