"""Standard output and error that may be closed under a running command (`2>&1 >/dev/null | head`):
a line that cannot be written is dropped and the stream is pointed at /dev/null, so neither the
next write nor the flush at interpreter exit fails. The exit code still tells what happened."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable
from typing import TextIO

import typer


def silence(stream: TextIO) -> None:
    """Send whatever `stream` writes from now on, its unflushed buffer included, to /dev/null."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)


def echo(text: str, *, err: bool = False, nl: bool = True) -> bool:
    """`typer.echo`, except that a closed pipe drops the line; False when it was dropped."""
    try:
        typer.echo(text, err=err, nl=nl)
    except (BrokenPipeError, ValueError):  # ValueError: the stream itself was closed
        silence(sys.stderr if err else sys.stdout)
        return False
    return True


def echo_all(pieces: Iterable[str], *, sep: str = "\n", batch: int = 2048) -> bool:
    """`echo` of many pieces (lines, with `sep` between and after them), `batch` at a time: a
    listing of a million members in a few hundred writes, not millions. False when the
    stream closed (the rest is not made)."""
    pending: list[str] = []
    for piece in pieces:
        pending.append(piece)
        if len(pending) == batch:
            if not echo(sep.join(pending) + sep, nl=False):
                return False
            pending = []
    return echo(sep.join(pending) + sep if pending else "", nl=False)
