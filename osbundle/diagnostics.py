"""Errors as values: one `Diagnostic` per problem found in a profile, with its location."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# A location inside a YAML/JSON document: mapping keys and sequence indexes from the root.
DocPath = tuple[str | int, ...]


def format_doc_path(path: DocPath) -> str:
    """`("drivers", 0, "source")` -> `drivers[0].source`; the root is `(root)`."""
    if not path:
        return "(root)"
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class Diagnostic:
    """One problem: where it is (file, 1-based line and column, path in the profile) and what."""

    file: str
    line: int
    col: int
    path: DocPath
    message: str
    hint: str | None = None
    severity: Literal["error", "warning"] = "error"

    def render(self) -> str:
        """`file:line:col: path: message (hint: ...)`, the one-line text form."""
        text = f"{self.file}:{self.line}:{self.col}: {format_doc_path(self.path)}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text
