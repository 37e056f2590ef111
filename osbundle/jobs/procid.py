"""Process identity that survives pid reuse: a pid plus when (and in which boot) it started.

A job record stores the identity of its worker. A pid alone is not enough: after the worker dies
(kill -9, reboot) the kernel can hand the same pid to an unrelated process, which must never be
mistaken for the worker, let alone be signalled.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessId:
    """`start` is `<boot id>:<start time in clock ticks>` on Linux, "" where /proc is missing."""

    pid: int
    start: str


def parse_stat(text: str) -> tuple[str, str] | None:
    """(state, starttime) from the text of /proc/<pid>/stat, or None if it is malformed.

    The command name (field 2) is in parentheses and may itself hold spaces and parentheses,
    so the fields are counted from the last `)`.
    """
    close = text.rfind(")")
    if close < 0:
        return None
    fields = text[close + 1 :].split()
    # fields[0] is field 3 (state); starttime is field 22.
    if len(fields) < 20 or not fields[19].isdigit():
        return None
    return fields[0], fields[19]


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def identify(pid: int) -> ProcessId | None:
    """The identity of live process `pid`, or None if there is none (zombies count as dead)."""
    if pid <= 0:
        return None
    if not _PROC.is_dir():
        return ProcessId(pid, "") if _exists(pid) else None
    try:
        parsed = parse_stat((_PROC / str(pid) / "stat").read_text(errors="replace"))
    except OSError:
        return None
    if parsed is None:
        return None
    state, start = parsed
    if state in ("Z", "X", "x"):
        return None
    return ProcessId(pid, f"{_boot_id()}:{start}")


def current() -> ProcessId:
    """This process's identity."""
    ident = identify(os.getpid())
    return ident if ident is not None else ProcessId(os.getpid(), "")


def is_alive(ident: ProcessId) -> bool:
    """True if the process `ident` names is still running (not a newer one with its pid)."""
    now = identify(ident.pid)
    if now is None:
        return False
    return not ident.start or not now.start or now.start == ident.start


def send_signal(ident: ProcessId, sig: signal.Signals) -> bool:
    """Signal the process `ident` names; False (and nothing sent) if it is gone.

    With pidfd (Linux >= 5.3) the identity check and the kill refer to the same process even if
    it dies in between; elsewhere a tiny window remains between the check and `kill`.
    """
    pidfd_open = getattr(os, "pidfd_open", None)
    pidfd_send = getattr(signal, "pidfd_send_signal", None)
    if pidfd_open is None or pidfd_send is None:
        if not is_alive(ident):
            return False
        return _kill(ident.pid, sig)
    try:
        fd = pidfd_open(ident.pid)
    except OSError:
        return False
    try:
        if not is_alive(ident):
            return False
        pidfd_send(fd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)


def _kill(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
