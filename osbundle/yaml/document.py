"""A loaded YAML document and its vocabulary: positions, limits, and the one error type.

The reader and the composer both build on this module, and nothing here imports either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from osbundle.diagnostics import Diagnostic, DocPath
from osbundle.errors import InputError

MAX_BYTES: Final = 1 << 20
MAX_DEPTH: Final = 64
MAX_NODES: Final = 100_000


@dataclass(frozen=True, slots=True)
class Mark:
    """A position in a YAML file; both numbers are 1-based."""

    line: int
    col: int


@dataclass(frozen=True)
class YamlDocument:
    """A loaded YAML file: its data and where every value and key in it was written."""

    file: str
    data: Any
    marks: Mapping[DocPath, Mark]
    key_marks: Mapping[DocPath, Mark]
    ambiguous: Mapping[DocPath, str]
    problems: tuple[Diagnostic, ...]

    def mark_for(self, path: DocPath) -> Mark:
        """The value mark at `path`, else that of its nearest recorded ancestor, else 1:1."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(path[:end])
            if mark is not None:
                return mark
        return Mark(1, 1)


class YamlError(InputError):
    """A YAML file that cannot be loaded at all; `diagnostic` says where and why."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        self.diagnostic = diagnostic
        super().__init__(diagnostic.render())


def yaml_error(
    file: str, mark: Mark, message: str, path: DocPath = (), hint: str | None = None
) -> YamlError:
    """A `YamlError` whose message and hint are each kept to one line."""
    one_line = " ".join(message.split())
    hint = " ".join(hint.split()) if hint else None
    return YamlError(Diagnostic(file, mark.line, mark.col, path, one_line, hint))
