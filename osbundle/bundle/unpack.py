"""`unpack_bundle`: a bundle back into a profile directory that builds to the same bundle.

Members are written into a temporary directory beside `dest` while they stream past, hashed
on the way; only when every digest matches SHA256SUMS and metadata.json is profile.yaml
written and the directory renamed to `dest`. Any failure removes the temporary directory.
Every file is created relative to an already-open directory descriptor with
O_CREAT|O_EXCL|O_NOFOLLOW, and every directory is opened with O_NOFOLLOW, so neither a name nor
a link planted on disk can redirect a write; the temporary directory itself is mkdtemp's (a
new 0700 directory under a random name). A stop signal (under `interrupts.cancel_on_signals`)
removes the temporary directory like any other failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osbundle.bundle.check import check_scan
from osbundle.bundle.read import bundle_error, parse_metadata, scan_bundle
from osbundle.bundle.tarread import TarEntry, show
from osbundle.bundle.unpack_profile import dump_profile_yaml, profile_document
from osbundle.errors import BundleError, InputError
from osbundle.interrupts import settle, signals_held
from osbundle.kinds import KINDS
from osbundle.macros.grammar import find_macros
from osbundle.model import METADATA, TRAILERS

MAX_TEMPLATE_BYTES = 64 * 1024 * 1024  # larger rendered files are not offered for re-rendering
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class UnpackResult:
    dest: Path
    profile_name: str
    files: int  # payload files written (profile.yaml not counted)
    bytes: int
    source_date_epoch: int  # the members' mtime: build with it to get the same bytes
    notes: tuple[str, ...]  # anything that will not round-trip byte for byte

    def to_json(self) -> dict[str, Any]:
        return {
            "dest": str(self.dest),
            "profileName": self.profile_name,
            "files": self.files,
            "bytes": self.bytes,
            "sourceDateEpoch": self.source_date_epoch,
            "notes": list(self.notes),
        }


def unpack_bundle(path: Path, dest: Path) -> UnpackResult:
    """Unpack `path` into `dest`, which must not exist or be an empty directory.

    Under `interrupts.cancel_on_signals()` a stop signal at any point removes the temporary
    directory on its way out; one arriving after `dest` appeared is only recorded (settled).
    """
    check_destination(dest)
    staging: Path | None = None
    try:
        with signals_held():  # the temporary directory exists only once `staging` names it
            staging = make_staging(dest)
        result = unpack_into(path, staging, dest)
        with signals_held():
            commit(staging, dest)
            settle()
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def make_staging(dest: Path) -> Path:
    """A new private (0700) directory beside `dest`, under a name no one else chose."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{dest.name}.unpack-", dir=dest.parent))
    except OSError as exc:
        raise InputError(f"cannot create {dest}: {exc.strerror or exc}") from exc


def check_destination(dest: Path) -> None:
    if dest.is_symlink():
        raise InputError(f"destination {dest} is a symlink")
    if not dest.exists():
        return
    if not dest.is_dir():
        raise InputError(f"destination {dest} exists and is not a directory")
    if any(dest.iterdir()):
        raise InputError(f"destination {dest} is not empty")


def unpack_into(path: Path, staging: Path, dest: Path) -> UnpackResult:
    with SafeTree(staging, bundle=path, shown=dest) as tree:
        scan = scan_bundle(path, sha256=True, xxh3=True, writer=tree)
        problems = check_scan(scan, fast=False)
        if problems:
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise bundle_error(path, problems[0] + more)
        try:
            metadata = parse_metadata(scan.trailers[METADATA].read())
            document, notes = profile_document(metadata, tree.has_macros)
        except BundleError as exc:
            raise bundle_error(path, str(exc)) from exc
        tree.write_file("profile.yaml", dump_profile_yaml(document).encode("utf-8"))
    files = size = 0
    for record in scan.records:
        if record.path not in TRAILERS:
            files, size = files + 1, size + record.entry.size
    return UnpackResult(
        dest=dest,
        profile_name=scan.top,
        files=files,
        bytes=size,
        source_date_epoch=next(iter(scan.records)).entry.mtime,
        notes=notes,
    )


def commit(staging: Path, dest: Path) -> None:
    """Rename the finished tree to `dest`; if the directory fsync then fails, rename it back
    (the caller removes it), so a failed unpack leaves no `dest` it made."""
    try:
        fd = os.open(staging, _DIR_FLAGS)
        try:
            os.fchmod(fd, 0o755)  # mkdtemp made it 0700; a profile dir is 0755
        finally:
            os.close(fd)
        existed = dest.is_dir()
        os.rename(staging, dest)  # replaces an empty directory atomically
    except OSError as exc:
        raise InputError(f"cannot create {dest}: {exc.strerror or exc}") from exc
    try:
        fsync_dir(dest.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.rename(dest, staging)
            if existed:
                os.mkdir(dest)
        raise InputError(f"cannot create {dest}: {exc.strerror or exc}") from exc


def fsync_dir(path: Path) -> None:
    fd = os.open(path, _DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SafeTree:
    """Writes payload members below one directory, and nowhere else (a `MemberWriter`).

    Errors about a member name the `bundle`; errors writing name the file as it will be
    called under `shown` (the destination; `root` is its temporary name).
    """

    def __init__(self, root: Path, *, bundle: Path, shown: Path) -> None:
        self.root = root
        self._bundle = bundle
        self._shown = shown
        self._root_real = os.path.realpath(root)
        self._root_fd = os.open(root, _DIR_FLAGS)
        self._dir: tuple[tuple[str, ...], int] = ((), self._root_fd)
        self._fd = -1
        self._path = ""
        self._mode = 0o644

    def __enter__(self) -> SafeTree:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        if self._dir[1] != self._root_fd:
            os.close(self._dir[1])
        os.close(self._root_fd)

    def begin(self, path: str, entry: TarEntry) -> None:
        self.check_target(path, entry)
        parts = path.split("/")
        directory = self._directory(tuple(parts[:-1]), path)
        self._path, self._mode = path, 0o755 if entry.mode & 0o111 else 0o644
        try:
            self._fd = os.open(parts[-1], _FILE_FLAGS, 0o600, dir_fd=directory)
        except FileExistsError as exc:
            raise bundle_error(
                self._bundle,
                f"member {show(path)} is written twice (a duplicate name, or one "
                "that differs only in case on this file system)",
            ) from exc
        except OSError as exc:
            raise self._write_error(path, exc) from exc

    def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise self._write_error(self._path, exc) from exc

    def _write_error(self, path: str, exc: OSError) -> BundleError:
        return BundleError(f"cannot write {show(f'{self._shown}/{path}')}: {exc.strerror or exc}")

    def end(self) -> None:
        fd, self._fd = self._fd, -1
        try:
            os.fchmod(fd, self._mode)
            os.fsync(fd)
        except OSError as exc:
            raise self._write_error(self._path, exc) from exc
        finally:
            os.close(fd)

    def write_file(self, name: str, data: bytes) -> None:
        self._path, self._mode = name, 0o644
        try:
            self._fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=self._root_fd)
        except OSError as exc:
            raise self._write_error(name, exc) from exc
        self.write(data)
        self.end()

    def check_target(self, path: str, entry: TarEntry) -> None:
        """Only regular files in a kind directory, inside the root (checked three ways)."""
        if not any(path.startswith(d + "/") for d in (info.directory for info in KINDS.values())):
            raise bundle_error(
                self._bundle,
                f"member {show(entry.name)} is not in a kind directory "
                "(drivers/, boot/, unattend/, custom/...)",
            )
        info = tarfile.TarInfo(path)
        info.type, info.size, info.mode = tarfile.REGTYPE, entry.size, entry.mode
        try:
            tarfile.data_filter(info, self._root_real)
        except tarfile.FilterError as exc:
            raise bundle_error(self._bundle, f"member {show(entry.name)} refused: {exc}") from exc
        target = os.path.realpath(os.path.join(self._root_real, path))
        if not target.startswith(self._root_real + os.sep):
            raise bundle_error(
                self._bundle, f"member {show(entry.name)} resolves outside the destination"
            )

    def _directory(self, parts: tuple[str, ...], path: str) -> int:
        """An open descriptor of root/parts, creating directories without following links."""
        if parts == self._dir[0]:
            return self._dir[1]
        if self._dir[1] != self._root_fd:
            os.close(self._dir[1])
        self._dir = ((), self._root_fd)
        fd = self._root_fd
        try:
            for part in parts:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                if fd != self._root_fd:
                    os.close(fd)
                fd = child
        except OSError as exc:
            if fd != self._root_fd:
                os.close(fd)
            raise BundleError(
                f"cannot create the directory of {show(f'{self._shown}/{path}')}: "
                f"{exc.strerror or exc}"
            ) from exc
        self._dir = (parts, fd)
        return fd

    def has_macros(self, path: str) -> bool:
        """Whether the written member holds text that would render as a macro (or is no text)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._root_fd)
        except OSError as exc:
            raise BundleError(
                f"cannot read back {show(f'{self._shown}/{path}')}: {exc.strerror or exc}"
            ) from exc
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_TEMPLATE_BYTES + 1)
        if len(data) > MAX_TEMPLATE_BYTES:
            return True
        try:
            return bool(find_macros(data.decode("utf-8")))
        except UnicodeDecodeError:
            return True
