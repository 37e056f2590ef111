"""How a command line ends when it fails: the one error line on stderr, with a machine format
also a JSON error document on stdout, and the exit code (README "Exit codes")."""

from __future__ import annotations

import json
import sys
from typing import NoReturn

import typer

from osbundle.cli.streams import echo, silence


def wants_json(argv: list[str]) -> bool:
    """Whether the command line asked for a machine format (`--json`, `--format json`, or
    `build --background`, whose output is JSON): then every outcome is a JSON document."""
    words = argv[: argv.index("--")] if "--" in argv else argv
    for word, following in zip(words, [*words[1:], ""], strict=True):
        if word in ("--json", "--background", "--format=json", "-fjson"):
            return True
        if word in ("--format", "-f") and following == "json":
            return True
    return False


def fail(message: str, code: int, *, machine: bool = False) -> NoReturn:
    """The one line on stderr; with a machine format, also the error document on stdout."""
    from osbundle.cli.render import error_json

    if machine:
        echo(json.dumps(error_json(message, code), ensure_ascii=False))
    echo(f"osbundle: error: {message}", err=True)
    raise SystemExit(code)


def usage_error(exc: typer.TyperException, *, machine: bool) -> NoReturn:
    from osbundle.cli.render import error_json

    code = getattr(exc, "exit_code", 2)
    if machine:
        message = getattr(exc, "format_message", lambda: str(exc))()
        echo(json.dumps(error_json(message, code), ensure_ascii=False))
    show = getattr(exc, "show", None)
    try:
        if callable(show):
            show()
        else:
            typer.echo(f"osbundle: error: {exc}", err=True)
    except BrokenPipeError:
        silence(sys.stderr)
    raise SystemExit(code) from None


def unexpected_error(exc: Exception) -> str:
    """The line for an exception osbundle did not raise on purpose. MemoryError is the
    machine's limit, not a bug: no "internal error" for it."""
    if isinstance(exc, MemoryError):
        command = next((a for a in sys.argv[1:] if not a.startswith("-")), "a command")
        return f"out of memory while running {command} (free memory or raise the limit)"
    return f"internal error: {type(exc).__name__}: {exc} (--debug shows the traceback)"


def debug_first(args: list[str]) -> list[str]:
    """`--debug` is an option of `osbundle` itself; accept it after the command too
    (`osbundle build --debug DIR`), anywhere before a `--`."""
    end = args.index("--") if "--" in args else len(args)
    if "--debug" not in args[:end]:
        return args
    return ["--debug", *(a for i, a in enumerate(args) if a != "--debug" or i >= end)]
