"""Reader processes: read, hash and tar-encode runs of small files beside the archiver.

On many small files a build is bound by the system calls and the Python around each file, on
one core. The archive stage hands runs of small files to forked reader processes instead: each
writes a batch's exact tar bytes (header, data, padding: what `BundleWriter.add_file` writes)
and its members' digests into one slot of a shared memory ring, and the archiver copies the
slots into the stream in order. Readers make the archiver's checks (sourcefile.py) and report
the same errors; the bytes do not depend on how many readers there are, or whether any.

Readers are forked, so they exist only where fork is safe: POSIX, and no other thread alive.
Memory is bounded by the ring (2 slots per reader plus 2, about 1.1 MiB each), and does not
grow with the member count: batches are planned in one streaming pass over the member list
that runs only as far ahead of the archiver as the ring has slots; each request carries its
batch's place in the list, and a reader takes the batch's members with `MemberList.span`.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
import signal
import struct
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import NoReturn

from osbundle.errors import BuildError
from osbundle.interrupts import release_all
from osbundle.model import Member, MemberDigest, MemberList
from osbundle.tarstream.digest import digest_bytes
from osbundle.tarstream.header import BLOCK, HeaderEncoder, pad_length
from osbundle.tarstream.sourcefile import (
    check_unchanged,
    forget_folders,
    open_source,
    read_exactly,
)

SMALL_FILE = 256 << 10  # files up to this size go to the readers; larger ones stream in-process
SLOT_TAR = 1 << 20  # tar bytes of one batch at most
SLOT_MEMBERS = 1024  # members of one batch at most
MIN_BATCHES = 4  # fewer batches than this do not pay for the forks
_DIGEST = 96  # sha256 and xxh3-128 in hex
_TAR_ROOM = SLOT_TAR + BLOCK  # the read of a slot's last file asks for one probe byte more
_SLOT = _TAR_ROOM + SLOT_MEMBERS * _DIGEST
_REQUEST = struct.Struct("<IQQQ")  # batch index (its slot: index % slots), start, stop, tar_size
_REPLY = struct.Struct("<I?I")  # batch index, failed, length of the error message
_MAX_MESSAGE = 8 << 10
_ZEROS = bytes(BLOCK)


@dataclass(frozen=True, slots=True)
class Batch:
    """Members `start` to `stop - 1` (positions in the member list): `tar_size` bytes in the
    stream, `payload` of them file data."""

    index: int
    start: int
    stop: int
    tar_size: int
    payload: int


def plan_batches(members: Iterable[Member], top: str, encoder: HeaderEncoder) -> Iterator[Batch]:
    """Runs of consecutive small files (other members break a run), each cut to fit a slot,
    in order, as one pass over `members` reaches them."""
    index = start = tar = payload = count = 0
    for position, member in enumerate(members):
        count = position + 1
        size = small_file_size(member, top, encoder)
        if size is None or tar + size > SLOT_TAR or position - start == SLOT_MEMBERS:
            if position > start:
                yield Batch(index, start, position, tar, payload)
                index += 1
            start, tar, payload = position if size is not None else position + 1, 0, 0
        if size is not None:
            tar, payload = tar + size, payload + member.size
    if count > start:
        yield Batch(index, start, count, tar, payload)


def small_file_size(member: Member, top: str, encoder: HeaderEncoder) -> int | None:
    """The tar bytes of a member the readers take (a file up to SMALL_FILE), else None."""
    if member.source is None or member.size > SMALL_FILE:
        return None
    header = encoder.encoded_size(f"{top}/{member.path}", member.size, member.mode)
    return header + member.size + pad_length(member.size)


@dataclass(frozen=True)
class Prepared:
    """A batch as the archiver takes it: its tar bytes (valid until released) and digests."""

    tar: memoryview
    digests: list[MemberDigest]


class ReaderPool:
    """Forks `readers` processes that prepare the batches of `members` (of the bundle's
    directory `top`) ahead of the archiver.

    The archiver asks `batch_at(position)` for every member in order; where a batch starts, it
    `take`s it (waiting for it) with the batch's members, copies it, and `release`s it. Without
    readers (0 asked, fork unsafe, too few batches) `batch_at` is always None and nothing is
    forked. The pool holds the batches requested and not yet released (one per slot) and the
    planning pass over `members`, never the batches of the whole list.
    """

    def __init__(
        self,
        members: MemberList,
        top: str,
        encoder: HeaderEncoder,
        readers: int,
    ) -> None:
        self._members, self._top = members, top
        self._ahead: deque[Batch] = deque()  # requested, not yet released, in order
        self._plan: Iterator[Batch] = iter(())
        self._pids: list[int] = []
        self._requests: list[int] = []
        self._replies: list[int] = []
        self._slots = 0
        self._next = 0  # the batch to take next
        if readers < 1 or not _fork_is_safe():
            return
        plan = plan_batches(members, top, encoder)
        first = list(itertools.islice(plan, MIN_BATCHES))
        if len(first) < MIN_BATCHES:
            return
        self._slots = 2 * readers + 2
        try:
            self._ring = mmap.mmap(-1, self._slots * _SLOT)  # MAP_SHARED: the readers write here
            self._view = memoryview(self._ring)
            for _ in range(readers):
                self._fork(encoder)
        except OSError:  # no memory or process to spare: the archiver reads the files itself
            self.close()
            return
        except BaseException:
            self.close()
            raise
        self._plan = itertools.chain(first, plan)
        for _ in range(self._slots):
            self._request_next()

    def __enter__(self) -> ReaderPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def batch_at(self, position: int) -> Batch | None:
        """The batch that starts at member `position`, if the readers prepare one there."""
        ahead = self._ahead
        return ahead[0] if ahead and ahead[0].start == position else None

    def take(self, batch: Batch, members: Sequence[Member]) -> Prepared:
        """Wait for `batch` (the next one in order), whose `members` the archiver has read from
        its own pass over the list; BuildError if a member failed its checks."""
        if batch.index != self._next:
            raise BuildError(f"batch {batch.index} taken out of order (expected {self._next})")
        if len(members) != batch.stop - batch.start:
            raise BuildError(
                f"batch {batch.index} is {batch.stop - batch.start} members, not {len(members)}"
            )
        index, failed, message = self._reply(batch.index)
        if index != batch.index:
            raise BuildError(f"reader answered batch {index} for batch {batch.index}")
        if failed:
            raise BuildError(message.decode("utf-8", "replace"))
        offset = (batch.index % self._slots) * _SLOT
        end = offset + _TAR_ROOM + len(members) * _DIGEST
        text = bytes(self._view[offset + _TAR_ROOM : end]).decode("ascii")
        top = self._top
        digests = [
            MemberDigest(f"{top}/{m.path}", m.size, text[k : k + 64], text[k + 64 : k + 96])
            for k, m in zip(range(0, len(text), _DIGEST), members, strict=True)
        ]
        return Prepared(self._view[offset : offset + batch.tar_size], digests)

    def release(self, batch: Batch) -> None:
        """The archiver has copied `batch`: its slot takes the batch that many places on."""
        if self._ahead and self._ahead[0] is batch:
            self._ahead.popleft()
        self._next = batch.index + 1
        self._request_next()

    def close(self) -> None:
        """Stop every reader (they hold no files open for long, and write nothing to disk)."""
        for fd in (*self._requests, *self._replies):
            os.close(fd)
        self._requests, self._replies = [], []
        for pid in self._pids:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):  # reaped elsewhere
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        self._pids = []
        self._ahead.clear()
        self._plan = iter(())

    def _reply(self, index: int) -> tuple[int, bool, bytes]:
        """The reader's answer for batch `index`: (its index, failed, error message)."""
        fd = self._replies[index % len(self._pids)]
        with contextlib.suppress(OSError):
            head = _read_exactly(fd, _REPLY.size)
            if len(head) == _REPLY.size:
                number, failed, length = _REPLY.unpack(head)
                return number, failed, _read_exactly(fd, length)
        raise BuildError("a reader process ended unexpectedly; build again")

    def _request_next(self) -> None:
        """Plan the next batch and ask its reader for it (nothing once the plan is done)."""
        batch = next(self._plan, None)
        if batch is None:
            return
        self._ahead.append(batch)
        request = _REQUEST.pack(batch.index, batch.start, batch.stop, batch.tar_size)
        try:
            os.write(self._requests[batch.index % len(self._pids)], request)
        except OSError as exc:  # EPIPE: the reader is gone
            raise BuildError("a reader process ended unexpectedly; build again") from exc

    def _fork(self, encoder: HeaderEncoder) -> None:
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the reader: never returns
            self._serve(encoder, request_r, reply_w)
        os.close(request_r)
        os.close(reply_w)
        self._pids.append(pid)
        self._requests.append(request_w)
        self._replies.append(reply_r)

    def _serve(self, encoder: HeaderEncoder, requests: int, replies: int) -> NoReturn:
        """A reader's whole life: batches as requested, until the archiver closes the pipe."""
        code = 1
        try:
            # The archiver decides what Ctrl-C or SIGTERM means, and stops the readers itself.
            release_all()
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            # The member list may be read from a file (model.MemberList.descriptors).
            _close_inherited(keep=(requests, replies, *self._members.descriptors()))
            forget_folders(close=False)  # closed just now: this reader opens its own
            while request := _read_exactly(requests, _REQUEST.size):
                index, start, stop, tar_size = _REQUEST.unpack(request)
                _write_all(replies, self._fill(Batch(index, start, stop, tar_size, 0), encoder))
            code = 0
        finally:
            os._exit(code)  # never back into the caller's code (or a test runner's)

    def _fill(self, batch: Batch, encoder: HeaderEncoder) -> bytes:
        """In a reader: write `batch` into its slot; the reply for the archiver."""
        offset = (batch.index % self._slots) * _SLOT
        tar = self._view[offset : offset + _TAR_ROOM]
        hexes = self._view[offset + _TAR_ROOM : offset + _SLOT]
        pos = count = 0
        try:
            for k, member in enumerate(self._members.span(batch.start, batch.stop)):
                pos, digest = _encode(tar, pos, self._top, member, encoder)
                hexes[k * _DIGEST : (k + 1) * _DIGEST] = digest
                count = k + 1
        except BuildError as exc:
            return _reply(batch.index, str(exc))
        except Exception as exc:  # a bug, not the file: the build still fails cleanly
            return _reply(batch.index, f"internal error in a reader: {type(exc).__name__}: {exc}")
        if count != batch.stop - batch.start or pos != batch.tar_size:
            return _reply(batch.index, "internal error in a reader: unexpected batch size")
        return _reply(batch.index, None)


def _encode(
    tar: memoryview, pos: int, top: str, member: Member, encoder: HeaderEncoder
) -> tuple[int, bytes]:
    """Header, data and padding of one member at `tar[pos:]`; the end and its hex digests."""
    source, size, origin = member.source, member.size, member.origin
    assert source is not None
    assert origin is not None
    header = encoder.encode(f"{top}/{member.path}", size, member.mode)
    tar[pos : pos + len(header)] = header
    pos += len(header)
    fd = open_source(source, origin)
    try:
        read_exactly(fd, source, tar[pos : pos + size + 1], size)
        check_unchanged(fd, source, origin)
    finally:
        os.close(fd)
    data = tar[pos : pos + size]
    digest = "".join(digest_bytes(data)).encode()
    pos += size
    pad = pad_length(size)
    tar[pos : pos + pad] = _ZEROS[:pad]
    return pos + pad, digest


def _close_inherited(keep: tuple[int, ...]) -> None:
    """Drop the archiver's descriptors: the output file, its lock, the job store, the other
    readers' pipes. A reader that kept them would hold the lock and keep pipes from closing."""
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, _max_fd())


def _max_fd() -> int:
    try:
        return int(os.sysconf("SC_OPEN_MAX"))
    except (OSError, ValueError):
        return 1 << 16


def _fork_is_safe() -> bool:
    # fork() copies only the calling thread; a lock another thread holds would stay locked.
    return hasattr(os, "fork") and threading.active_count() == 1


def _reply(index: int, error: str | None) -> bytes:
    raw = b"" if error is None else error.encode("utf-8", "replace")[:_MAX_MESSAGE]
    return _REPLY.pack(index, error is not None, len(raw)) + raw


def _read_exactly(fd: int, n: int) -> bytes:
    """`n` bytes from a pipe, or fewer at its end."""
    chunks: list[bytes] = []
    left = n
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
