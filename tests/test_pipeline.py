from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from osbundle.destinations import local
from osbundle.destinations.local import LocalDestination, LocalUpload
from osbundle.errors import BuildError, Cancelled, InputError, ProfileInvalid
from osbundle.interrupts import cancel_on_signals
from osbundle.model import BuildRequest, BuildResult
from osbundle.observer import NullObserver
from osbundle.pipeline import build_bundle, prepare
from osbundle.stages.archive import survey
from tests.destinations.memory import MemoryDestination
from tests.factory import PROFILES, REPO, make_profile, profile_trees

EPOCH = 1700000000


def build(profile: Path, outdir: Path, **options: object) -> BuildResult:
    request = BuildRequest(profile_dir=profile, outdir=outdir, source_date_epoch=EPOCH, **options)  # type: ignore[arg-type]
    return build_bundle(request)


def tar_members(bundle: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(bundle, "r:gz") as tar:
        return tar.getmembers()


def tar_contents(bundle: Path) -> dict[str, bytes]:
    out = {}
    with tarfile.open(bundle, "r:gz") as tar:
        for info in tar:
            f = tar.extractfile(info)
            assert f is not None
            out[info.name] = f.read()
    return out


FILES = {
    "a.txt": b"alpha\n",
    "dir/b.bin": bytes(range(256)) * 10,
    "dir/sub/empty": b"",
    "z/512": b"x" * 512,
    "ünïcode/naïve.txt": "ü".encode() * 70,
}


def test_build_holds_exactly_the_inputs_then_metadata_then_sums(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "p", FILES)
    result = build(profile, tmp_path / "out")
    bundle = Path(result.path)
    assert bundle.name == "20231114221320_test-profile.tar.gz"
    contents = tar_contents(bundle)
    names = list(contents)
    payload = {f"test-profile/custom/files/{rel}": data for rel, data in FILES.items()}
    assert names[:-2] == sorted(payload, key=lambda n: n.encode())
    assert names[-2:] == ["test-profile/metadata.json", "test-profile/SHA256SUMS"]
    assert {n: contents[n] for n in names[:-2]} == payload
    metadata = json.loads(contents["test-profile/metadata.json"])
    assert [m["path"] for m in metadata["members"]] == [n.split("/", 1)[1] for n in names[:-2]]
    for item in metadata["members"]:
        data = contents[f"test-profile/{item['path']}"]
        assert item["sha256"] == hashlib.sha256(data).hexdigest()
        assert item["size"] == len(data)
    assert result.members == len(names)


def test_result_digests_are_those_of_the_files(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "p", FILES)
    result = build(profile, tmp_path / "out")
    raw = Path(result.path).read_bytes()
    assert result.sha256 == hashlib.sha256(raw).hexdigest()
    assert result.size == len(raw)
    assert result.tar_sha256 == hashlib.sha256(gzip.decompress(raw)).hexdigest()
    sidecar = Path(result.path + ".sha256").read_text()
    assert sidecar == f"{result.sha256}  {Path(result.path).name}\n"
    check = subprocess.run(
        ["sha256sum", "-c", sidecar.split()[1] + ".sha256"],
        cwd=tmp_path / "out",
        capture_output=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_member_headers_are_normalised(tmp_path: Path) -> None:
    files = {"run.sh": b"#!/bin/sh\necho hi\n", "data.txt": b"x"}
    profile = make_profile(tmp_path / "p", files)
    os.chmod(profile / "run.sh", 0o700)
    os.chmod(profile / "data.txt", 0o600)
    for info in tar_members(Path(build(profile, tmp_path / "out").path)):
        assert (info.uid, info.gid, info.uname, info.gname) == (0, 0, "", "")
        assert info.mtime == EPOCH
        assert info.isreg()
        expected = 0o755 if info.name.endswith("run.sh") else 0o644
        assert info.mode == expected, info.name


def test_gnu_tar_gzip_and_bsdtar_read_the_bundle(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "p", FILES)
    bundle = build(profile, tmp_path / "out").path
    assert subprocess.run(["gzip", "-t", bundle], check=False).returncode == 0
    listing = subprocess.run(["tar", "-tvzf", bundle], capture_output=True, text=True, check=True)
    assert "root/root" not in listing.stdout  # no user or group names are stored
    assert listing.stdout.count("0/0") == len(FILES) + 2
    extracted = tmp_path / "x"
    extracted.mkdir()
    subprocess.run(["tar", "-xzf", bundle, "-C", str(extracted)], check=True)
    for rel, data in FILES.items():
        assert (extracted / "test-profile/custom/files" / rel).read_bytes() == data
    if shutil.which("bsdtar"):
        out = subprocess.run(["bsdtar", "-tzf", bundle], capture_output=True, check=True)
        assert out.stdout.decode().splitlines()[-1] == "test-profile/SHA256SUMS"


def copy_with_variations(src: Path, dst: Path, *, reverse: bool, mtime: int) -> None:
    """Same content, other creation order, mtimes and permission bits beyond x."""
    files = sorted(p for p in src.rglob("*") if p.is_file())
    for path in reversed(files) if reverse else files:
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        os.chmod(target, 0o664 if not os.access(path, os.X_OK) else 0o775)
        os.utime(target, (mtime, mtime))
        if os.geteuid() == 0:  # other owners too, where we may set them
            os.chown(target, 12345, 23456)


def cli_build(
    profile: Path, outdir: Path, env: dict[str, str], *extra: str, umask: int = 0o022
) -> Path:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "osbundle",
            "build",
            str(profile),
            "-o",
            str(outdir),
            "--json",
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        umask=umask,
    )
    assert done.returncode == 0, done.stderr
    return Path(json.loads(done.stdout)["path"])


@pytest.mark.slow
def test_bytes_do_not_depend_on_environment_threads_or_file_system(tmp_path: Path) -> None:
    original = make_profile(tmp_path / "a" / "p", FILES | {"big.bin": os.urandom(3 << 20)})
    variant = tmp_path / "elsewhere" / "deeper" / "p"
    copy_with_variations(original, variant, reverse=True, mtime=1234567890)
    base_env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH))
    first = cli_build(original, tmp_path / "o1", base_env | {"TZ": "UTC", "LANG": "C"})
    other_env = base_env | {"TZ": "Asia/Kolkata", "LANG": "de_DE.UTF-8", "LC_ALL": "tr_TR.UTF-8"}
    runs = [
        cli_build(variant, tmp_path / "o2", other_env, "--threads", "1"),
        cli_build(variant, tmp_path / "o3", base_env, "--threads", "8"),
        cli_build(original, tmp_path / "o4", base_env, "--threads", "2"),
    ]
    runs.append(cli_build(variant, tmp_path / "o5", base_env, umask=0o077))
    for other in runs:
        assert other.read_bytes() == first.read_bytes(), other


def test_fifo_in_the_profile_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "p", {"a.txt": b"a"})
    os.mkfifo(profile / "pipe")
    (profile / "profile.yaml").write_text(
        (profile / "profile.yaml").read_text().replace('"a.txt"', '"*"')
    )
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            build(profile, tmp_path / "out")
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "a FIFO made the build hang"
    assert isinstance(outcome[0], ProfileInvalid)
    assert "pipe" in str(outcome[0])
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_symlink_leaving_the_profile_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("secret")
    profile = make_profile(tmp_path / "p", {"a.txt": b"a"})
    (profile / "link").symlink_to(tmp_path / "secret")
    (profile / "profile.yaml").write_text(
        (profile / "profile.yaml").read_text().replace('"a.txt"', '"link"')
    )
    with pytest.raises(InputError, match="link"):
        build(profile, tmp_path / "out")
    assert not (tmp_path / "out").exists()


class GrowFileAfterFirstMember(NullObserver):
    def __init__(self, victim: Path) -> None:
        self.victim = victim
        self.done = False

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        if files_done >= 1 and not self.done:
            self.done = True
            with self.victim.open("ab") as f:
                f.write(b"more")


def test_a_file_that_changes_during_the_build_fails_it_by_name(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "p", {"a.txt": b"a" * 100, "b.txt": b"b" * 100})
    request = BuildRequest(profile_dir=profile, outdir=tmp_path / "out", source_date_epoch=EPOCH)
    with pytest.raises(BuildError, match=r"b\.txt"):
        build_bundle(request, GrowFileAfterFirstMember(profile / "b.txt"))
    assert list((tmp_path / "out").iterdir()) == []


def test_existing_bundle_is_kept_without_force(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "p", {"a.txt": b"a"})
    first = Path(build(profile, tmp_path / "out").path)
    before = first.read_bytes()
    (profile / "a.txt").write_bytes(b"changed")
    with pytest.raises(BuildError, match="already exists"):
        build(profile, tmp_path / "out")
    assert first.read_bytes() == before
    assert Path(build(profile, tmp_path / "out", force=True).path).read_bytes() != before


def test_write_failure_leaves_no_partial_file(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "p", {"big.bin": os.urandom(4 << 20)})
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))\n"
        "from osbundle.cli.app import main\n"
        f"sys.argv = ['osbundle', 'build', {str(profile)!r}, '-o', {str(tmp_path / 'out')!r}]\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert done.returncode == 1
    assert done.stderr.startswith("osbundle: error: ")
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert list((tmp_path / "out").iterdir()) == []


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(files=profile_trees())
def test_round_trip_and_determinism_for_random_trees(
    tmp_path: Path, files: dict[str, bytes]
) -> None:
    case = Path(tmp_path / os.urandom(6).hex())
    profile = make_profile(case / "p", files)
    first = Path(build(profile, case / "o1").path)
    second = Path(build(profile, case / "o2", threads=3).path)
    assert first.read_bytes() == second.read_bytes()
    contents = tar_contents(first)
    trailer = {"test-profile/metadata.json", "test-profile/SHA256SUMS"}
    payload = {k: v for k, v in contents.items() if k not in trailer}
    assert payload == {f"test-profile/custom/files/{rel}": data for rel, data in files.items()}
    for name in contents:
        assert name.startswith("test-profile/")
        assert ".." not in name.split("/")
    with tarfile.open(fileobj=io.BytesIO(first.read_bytes()), mode="r:gz") as tar:
        for info in tar:
            assert tarfile.data_filter(info, str(case / "x")) is not None


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(files=profile_trees())
def test_unpack_then_build_gives_the_same_bytes(tmp_path: Path, files: dict[str, bytes]) -> None:
    from osbundle.bundle.unpack import unpack_bundle

    case = Path(tmp_path / os.urandom(6).hex())
    first = Path(build(make_profile(case / "p", files), case / "o1").path)
    unpack_bundle(first, case / "restored")
    again = Path(build(case / "restored", case / "o2").path)
    assert again.read_bytes() == first.read_bytes()


def test_build_makes_every_check_validate_makes(tmp_path: Path) -> None:
    # A dangling `install.unattend` is a semantic error, not a schema or source error.
    profile = make_profile(
        tmp_path / "p",
        {"unattend/ks.cfg": b"lang en_US\n"},
        lists={"unattend": ["unattend/ks.cfg"]},
        install={"unattend": "no-such-entry"},
    )
    with pytest.raises(ProfileInvalid, match="no unattend entry is named 'no-such-entry'"):
        build(profile, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def interrupted_build(profile: Path, outdir: Path, **options: object) -> None:
    """A build under the CLI's signal handling that a SIGINT the test sends must cancel."""
    with cancel_on_signals(), pytest.raises(Cancelled):
        build(profile, outdir, **options)


def test_an_interrupt_as_the_output_is_claimed_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    claim = LocalDestination.open

    def claim_then_interrupt(self: LocalDestination, *args: Any, **kwargs: Any) -> LocalUpload:
        upload = claim(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C just after the lock and temp file exist
        time.sleep(0.05)
        return upload

    monkeypatch.setattr(LocalDestination, "open", claim_then_interrupt)
    interrupted_build(make_profile(tmp_path / "p", {"a.txt": b"a"}), tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_an_interrupt_as_threads_start_stops_them_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_new_thread = threading._start_new_thread  # type: ignore[attr-defined]
    started: list[int] = []  # the kernel's ids of the threads this build starts

    def interrupted(function: Callable[..., object], args: tuple[object, ...]) -> int:
        def run(*inner: object) -> object:
            started.append(threading.get_native_id())
            return function(*inner)

        ident = int(start_new_thread(run, args))
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C as soon as an archive thread runs
        return ident

    profile = make_profile(tmp_path / "p", {"a.txt": b"a" * 3_000_000})
    with monkeypatch.context() as patch:
        patch.setattr(threading, "_start_new_thread", interrupted)
        interrupted_build(profile, tmp_path / "out", threads=2)
    assert started
    # The OS's view: a thread that `Thread.start` lost track of is not in threading.enumerate.
    # A joined thread may still be leaving the kernel for a moment; a lost one never does.
    assert wait_until(lambda: not any(os.path.exists(f"/proc/self/task/{t}") for t in started))
    assert list((tmp_path / "out").iterdir()) == []


def wait_until(done: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_an_interrupt_while_publishing_never_splits_bundle_and_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish = local.publish

    def publish_then_interrupt(temp: Path, final: Path, *, force: bool) -> None:
        publish(temp, final, force=force)
        if final.suffix == ".gz":
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C between the bundle and its .sha256
            time.sleep(0.05)

    monkeypatch.setattr(local, "publish", publish_then_interrupt)
    # A signal held while publishing arrives once the build is settled: it is recorded, and the
    # build completes (issue 9: a bundle at its final path belongs to a Complete job).
    with cancel_on_signals() as guard:
        result = build(make_profile(tmp_path / "p", {"a.txt": b"a"}), tmp_path / "out")
    assert guard.received == signal.SIGINT
    assert result.result == "success"
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(names) == 2  # both, and no temporary or lock file
    assert names[1] == names[0] + ".sha256"


def test_the_archive_streams_into_the_destination_it_is_given(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "p", {"a.txt": b"alpha\n" * 1000, "b.bin": os.urandom(5000)})
    request = BuildRequest(profile_dir=profile, outdir=tmp_path / "unused", source_date_epoch=EPOCH)
    destination = MemoryDestination()
    result = build_bundle(request, destination=destination)
    local = Path(build(profile, tmp_path / "out").path)
    assert destination.published[result.filename] == local.read_bytes()
    sums = destination.published[result.filename + ".sha256"]
    assert sums == (local.parent / (local.name + ".sha256")).read_bytes()
    assert result.path == f"memory:{result.filename}"
    assert not (tmp_path / "unused").exists()  # nothing went to the request's directory


def test_a_failed_build_discards_its_upload(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "p", {"a.txt": b"a" * 100, "b.txt": b"b" * 100})
    request = BuildRequest(profile_dir=profile, outdir=tmp_path / "out", source_date_epoch=EPOCH)
    destination = MemoryDestination()
    with pytest.raises(BuildError, match=r"b\.txt"):
        build_bundle(request, GrowFileAfterFirstMember(profile / "b.txt"), destination=destination)
    assert destination.published == {}
    assert destination.claimed == set()
    assert [upload.done for upload in destination.opened] == [True]


def test_a_read_error_names_the_source_not_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = make_profile(tmp_path / "p", {"a.txt": b"a" * 100})
    readv = os.readv

    def failing_readv(fd: int, buffers: Sequence[Any]) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("a.txt"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return readv(fd, buffers)

    monkeypatch.setattr(os, "readv", failing_readv)
    with pytest.raises(BuildError) as info:
        build(profile, tmp_path / "out", threads=1)
    assert str(info.value) == f"cannot read {profile / 'a.txt'}: Input/output error"
    assert list((tmp_path / "out").iterdir()) == []


# --- what the bundle reader refuses, the build refuses first (issue 9, items 8-11) ---------

HEAD_YAML = 'id: "a|b"\nname: p\nos: {{family: {family}, release: "9", arch: x86_64}}\n'
REFUSED_PROFILES = {
    "component-over-255-bytes": ("rhel", f"files:\n  - source: x\n    dest: {'d' * 256}\n"),
    "name-over-4096-bytes": (
        "rhel",
        "files:\n  - source: x\n    dest: " + "/".join(["d" * 250] * 17) + "\n",
    ),
    "file-and-directory": ("rhel", "files:\n  - source: x\n  - source: x\n    dest: x\n"),
    "windows-device-name": ("windows", "files:\n  - source: x\n    dest: tools/nul.txt\n"),
    "windows-trailing-dot": ("windows", "files:\n  - source: x\n    dest: 'tools.'\n"),
    "windows-path-over-200": ("windows", f"files:\n  - source: x\n    dest: {'d' * 190}\n"),
    "bidi-control": ("rhel", 'files:\n  - source: x\n    dest: "a\\u202eb"\n'),
    "non-finite-number": ("rhel", "install:\n  ratio: .inf\n  big: 1e400\nfiles: [x]\n"),
}


@pytest.mark.parametrize("case", sorted(REFUSED_PROFILES))
def test_build_refuses_what_the_reader_would_refuse(tmp_path: Path, case: str) -> None:
    family, body = REFUSED_PROFILES[case]
    root = tmp_path / "p"
    root.mkdir()
    (root / "x").write_bytes(b"x\n")
    (root / "profile.yaml").write_text(HEAD_YAML.format(family=family) + body, encoding="utf-8")
    with pytest.raises(ProfileInvalid) as caught:
        build(root, tmp_path / "out")
    assert caught.value.exit_code == 2
    diagnostics = caught.value.diagnostics
    assert diagnostics
    # located at the entry (or the number) responsible: below the three lines of HEAD_YAML
    assert all(d.file.endswith("profile.yaml") and d.line > 3 for d in diagnostics)
    assert not (tmp_path / "out").exists()


def test_a_member_name_at_the_limit_builds_verifies_and_unpacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from osbundle.bundle.unpack import unpack_bundle
    from osbundle.bundle.verify import verify_bundle

    # `p/custom/files/<dest>/x`, exactly 4,096 bytes: the longest name the reader takes
    parts = ["d" * 255] * 15
    rest = 4096 - len("p/custom/files/") - len("/x") - len("/".join(parts)) - 1
    dest = "/".join([*parts, "e" * rest])
    root = tmp_path / "p"
    root.mkdir()
    (root / "x").write_bytes(b"x\n")
    (root / "profile.yaml").write_text(
        HEAD_YAML.format(family="rhel") + f"files:\n  - source: x\n    dest: {dest}\n",
        encoding="utf-8",
    )
    result = build(root, tmp_path / "out")
    bundle = Path(result.path)
    assert max(len(m.name.encode()) for m in tar_members(bundle)) == 4096
    assert verify_bundle(bundle).problems == ()
    unpack_bundle(bundle, tmp_path / "restored")
    monkeypatch.chdir(tmp_path / "restored" / "custom" / "files")  # the whole path is too long
    assert Path(dest, "x").read_bytes() == b"x\n"


def test_build_refuses_more_members_than_a_reader_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from osbundle import model

    monkeypatch.setattr(model, "MAX_MEMBERS", 3)  # one file and the two trailers
    profile = make_profile(tmp_path / "p", {"a.txt": b"a", "b.txt": b"b"})
    with pytest.raises(ProfileInvalid, match="would hold 4 members with its trailers"):
        build(profile, tmp_path / "out")


def test_a_render_error_names_the_profile_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9, item 14: in a build of several profiles, the message says which one failed."""
    monkeypatch.chdir(tmp_path)
    make_profile(
        Path("profiles/x"),
        {"unattend/ks.cfg": b"lang en\nkeyboard #s.v#\n", "s.json": b'{"v": "us\\nrootpw x"}'},
        lists={"unattend": ["unattend/ks.cfg"], "settings": ["s.json"]},
    )
    with pytest.raises(InputError) as err:
        build(Path("profiles/x"), tmp_path / "out")
    assert str(err.value) == (
        "profiles/x/unattend/ks.cfg:2:10: unattend[0]: macro `s.v`: value holds a line break"
    )
    assert not (tmp_path / "out").exists()


def test_macro_amplification_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """Issue 9, item 12: one 1 MiB value used 300 times would render a 300 MiB script."""
    profile = make_profile(
        tmp_path / "p",
        {
            "s.json": json.dumps({"v": "x" * (1024 * 1024)}).encode(),
            "x.sh": b"#!/bin/sh\n" + b"echo #s.v#\n" * 300,
        },
        lists={"settings": ["s.json"], "scripts": ["x.sh"]},
    )
    with pytest.raises(InputError) as err:
        build(profile, tmp_path / "out")
    assert str(err.value).startswith(
        f"{profile}/x.sh:17:6: scripts[0]: macro `s.v`: rendered, the file would be larger than "
        "16 MiB (hint: "
    )
    assert not (tmp_path / "out").exists()


def test_the_survey_from_the_scan_is_the_survey_of_the_members() -> None:
    """prepare's survey (summed by the scan, adjusted for rendering) equals a pass over the list."""
    for example in ("windows-2016-datacenter", "rhel-9", "esxi-8"):
        with prepare(PROFILES / example) as prepared:
            assert prepared.surveyed == survey(prepared.members)
            assert any(m.rendered for m in prepared.members)
