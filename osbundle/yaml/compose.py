"""Build JSON-compatible data from a YAML event stream, iteratively and within fixed limits.

PyYAML's composers recurse (the C one segfaults on deep input); this one keeps an explicit stack,
so any nesting stops with a `YamlError` at `MAX_DEPTH`. Aliases are counted by the size of what
they refer to, so an alias bomb stops at `MAX_NODES` after a few dozen events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from osbundle.diagnostics import Diagnostic, DocPath
from osbundle.yaml.document import MAX_DEPTH, MAX_NODES, Mark, YamlDocument, YamlError, yaml_error
from osbundle.yaml.scalars import (
    MAP_TAG,
    NON_SPECIFIC_TAG,
    SEQ_TAG,
    Scalar,
    ScalarError,
    excerpt,
    resolve_plain,
    resolve_tagged,
    show_tag,
)

_NO_KEY: Final = object()  # a mapping frame waiting for its next key
_MERGE_HINT: Final = (
    "`<<` is an ordinary key here: merge keys are not supported; write the keys out"
)


class EventSource(Protocol):
    def get_event(self) -> Event | None: ...


class ParserFailure(Exception):
    """The parser refused the input; `path` is where in the document it was."""

    def __init__(self, error: yaml.YAMLError, path: DocPath) -> None:
        super().__init__(str(error))
        self.error = error
        self.path = path


@dataclass(frozen=True)
class _Anchor:
    value: Any
    count: int  # nodes, with aliases inside expanded
    height: int  # 0 for a scalar, else 1 + the height of its deepest child collection
    key_text: str | None  # a scalar's text, which is what it means as a mapping key
    hint: str | None
    path: DocPath
    marks: tuple[int, int]  # slices of the composer's lists that hold its descendants
    keys: tuple[int, int]
    hints: tuple[int, int]


class _Frame:
    __slots__ = (
        "anchor",
        "container",
        "count0",
        "firsts",
        "height",
        "hints0",
        "is_map",
        "key",
        "keys0",
        "marks0",
        "path",
        "record",
        "skip",
        "value_path",
    )

    def __init__(self, container: Any, path: DocPath, record: bool, anchor: str | None) -> None:
        self.container = container
        self.is_map = isinstance(container, dict)
        self.path = path
        self.record = record  # False inside the discarded value of a duplicate key
        self.anchor = anchor
        self.key: object = _NO_KEY
        self.value_path: DocPath = path
        self.skip = False  # the pending value belongs to a duplicate key
        self.firsts: dict[str, Mark] = {}
        self.height = 1
        self.count0 = self.marks0 = self.keys0 = self.hints0 = 0


def compose(source: EventSource, file: str) -> YamlDocument:
    """The one document in `source` as a `YamlDocument`; raises YamlError or ParserFailure."""
    composer = _Composer(source, file)
    try:
        return composer.run()
    except yaml.YAMLError as exc:
        raise ParserFailure(exc, composer.current_path()) from None


def _mark(event: Event | None) -> Mark:
    start = event.start_mark if event is not None else None
    return Mark(start.line + 1, start.column + 1) if start is not None else Mark(1, 1)


class _Composer:
    def __init__(self, source: EventSource, file: str) -> None:
        self.get_event = source.get_event
        self.file = file
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.done = False
        self.nodes = 0
        self.anchors: dict[str, _Anchor] = {}
        self.open_anchors: dict[str, int] = {}
        self.marks: list[tuple[DocPath, Mark]] = []
        self.key_marks: list[tuple[DocPath, Mark]] = []
        self.hints: list[tuple[DocPath, str]] = []
        self.problems: list[Diagnostic] = []

    def run(self) -> YamlDocument:
        self.get_event()  # StreamStartEvent
        event = self.get_event()
        if isinstance(event, StreamEndEvent):
            self.marks.append(((), Mark(1, 1)))
            return self._document()
        self._check_version(event)
        self._compose_root()
        self.get_event()  # DocumentEndEvent
        event = self.get_event()
        if isinstance(event, DocumentStartEvent):
            raise self._error(
                _mark(event),
                "a second YAML document starts here; a profile file holds exactly one",
                hint="remove the `---` line and what follows it, or split the file",
            )
        return self._document()

    def _document(self) -> YamlDocument:
        hints: dict[DocPath, str] = {}
        for path, hint in self.hints:
            hints[path] = f"{hints[path]}; {hint}" if path in hints else hint
        return YamlDocument(
            file=self.file,
            data=self.root,
            marks=dict(self.marks),
            key_marks=dict(self.key_marks),
            ambiguous=hints,
            problems=tuple(self.problems),
        )

    def _check_version(self, event: Event | None) -> None:
        version = event.version if isinstance(event, DocumentStartEvent) else None
        if version is not None and version != (1, 2):
            mark = _mark(event)
            message = f"`%YAML {version[0]}.{version[1]}` is ignored: osbundle reads YAML 1.2"
            self.problems.append(
                Diagnostic(self.file, mark.line, mark.col, (), message, severity="warning")
            )

    def _compose_root(self) -> None:
        get_event = self.get_event
        while not self.done:
            event = get_event()
            if isinstance(event, ScalarEvent):
                self._scalar(event)
            elif isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                self._open(event)
            elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
                self._close()
            elif isinstance(event, AliasEvent):
                self._alias(event)
            elif event is None or isinstance(event, StreamEndEvent):  # parsers never do this
                raise self._error(Mark(1, 1), "the YAML stream ended inside a document")

    def current_path(self) -> DocPath:
        if not self.stack:
            return ()
        top = self.stack[-1]
        return top.value_path if top.is_map and top.key is not _NO_KEY else top.path

    def _error(self, mark: Mark, message: str, hint: str | None = None) -> YamlError:
        return yaml_error(self.file, mark, message, self.current_path(), hint)

    def _count(self, nodes: int, mark: Mark, alias: str | None = None) -> None:
        self.nodes += nodes
        if self.nodes <= MAX_NODES:
            return
        if alias is None:
            raise self._error(mark, f"document too large: more than {MAX_NODES} nodes")
        raise self._error(
            mark,
            f"alias expansion too large: `*{excerpt(alias)}` brings the document to more than "
            f"{MAX_NODES} nodes",
            hint="an alias counts as a copy of what it refers to; write the data out less often",
        )

    def _check_depth(self, mark: Mark, height: int) -> None:
        if len(self.stack) + height > MAX_DEPTH:
            raise self._error(
                mark,
                f"nesting too deep: more than {MAX_DEPTH} levels of mappings and sequences",
            )

    def _attach(self, value: Any, mark: Mark) -> tuple[DocPath, bool]:
        """Put a new node into its parent; returns its path and whether it is kept."""
        if not self.stack:
            self.root = value
            self.marks.append(((), mark))
            return (), True
        top = self.stack[-1]
        if top.is_map:
            path = top.value_path
            record = top.record and not top.skip
            if not top.skip:  # a discarded value is still built: an anchor in it may be used
                top.container[top.key] = value
            top.key = _NO_KEY
            top.skip = False
        else:
            path = (*top.path, len(top.container))
            record = top.record
            top.container.append(value)
        if record:
            self.marks.append((path, mark))
        return path, record

    def _key(self, text: str, mark: Mark, plain: bool) -> None:
        top = self.stack[-1]
        top.key = text
        top.value_path = path = (*top.path, text)
        first = top.firsts.get(text)
        if first is not None:
            top.skip = True
            self.problems.append(
                Diagnostic(
                    self.file,
                    mark.line,
                    mark.col,
                    path,
                    f"duplicate key `{excerpt(text)}` (first defined at line {first.line})",
                    hint="remove one of them; the first one is used",
                )
            )
            return
        top.firsts[text] = mark
        if top.record:
            self.key_marks.append((path, mark))
            if plain and text == "<<":
                self.hints.append((path, _MERGE_HINT))

    def _scalar(self, event: ScalarEvent) -> None:
        mark = _mark(event)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self._count(0, mark)
        tag, text, anchor = event.tag, event.value, event.anchor
        plain = tag is None and not event.style
        stack = self.stack
        if stack and stack[-1].is_map and stack[-1].key is _NO_KEY:
            if tag is not None or anchor is not None:
                value, hint = self._resolve(tag, text, plain, mark)
                self._define_scalar_anchor(anchor, value, text, hint)
            self._key(text, mark, plain)
            return
        value, hint = self._resolve(tag, text, plain, mark)
        path, record = self._attach(value, mark)
        if hint is not None and record:
            self.hints.append((path, hint))
        if anchor is not None:
            self._define_scalar_anchor(anchor, value, text, hint)
        self.done = not stack

    def _resolve(
        self, tag: str | None, text: str, plain: bool, mark: Mark
    ) -> tuple[Scalar, str | None]:
        if tag is None and not plain:
            return text, None
        try:
            return resolve_plain(text) if tag is None else (resolve_tagged(tag, text), None)
        except ScalarError as exc:
            raise self._error(mark, str(exc)) from None

    def _define_scalar_anchor(
        self, name: str | None, value: Scalar, text: str, hint: str | None
    ) -> None:
        if name is not None:
            self.anchors[name] = _Anchor(value, 1, 0, text, hint, (), (0, 0), (0, 0), (0, 0))

    def _open(self, event: MappingStartEvent | SequenceStartEvent) -> None:
        mark = _mark(event)
        is_map = isinstance(event, MappingStartEvent)
        if self.stack and self.stack[-1].is_map and self.stack[-1].key is _NO_KEY:
            raise self._error(
                mark,
                "a mapping key must be a scalar, not a " + ("mapping" if is_map else "sequence"),
                hint="write the key as plain text",
            )
        self._check_depth(mark, 1)
        tag = event.tag
        if tag is not None and tag not in (NON_SPECIFIC_TAG, MAP_TAG if is_map else SEQ_TAG):
            kind, fits = ("a mapping", "!!map") if is_map else ("a sequence", "!!seq")
            raise self._error(
                mark, f"unsupported tag `{excerpt(show_tag(tag))}` on {kind}: only {fits} fits"
            )
        count0 = self.nodes
        self._count(1, mark)
        container: dict[str, Any] | list[Any] = {} if is_map else []
        path, record = self._attach(container, mark)
        frame = _Frame(container, path, record, event.anchor)
        frame.count0 = count0
        frame.marks0, frame.keys0, frame.hints0 = (
            len(self.marks),
            len(self.key_marks),
            len(self.hints),
        )
        if event.anchor is not None:
            self.open_anchors[event.anchor] = self.open_anchors.get(event.anchor, 0) + 1
        self.stack.append(frame)

    def _close(self) -> None:
        frame = self.stack.pop()
        if frame.anchor is not None:
            self.open_anchors[frame.anchor] -= 1
            self.anchors[frame.anchor] = _Anchor(
                value=frame.container,
                count=self.nodes - frame.count0,
                height=frame.height,
                key_text=None,
                hint=None,
                path=frame.path,
                marks=(frame.marks0, len(self.marks)),
                keys=(frame.keys0, len(self.key_marks)),
                hints=(frame.hints0, len(self.hints)),
            )
        if self.stack:
            parent = self.stack[-1]
            parent.height = max(parent.height, frame.height + 1)
        else:
            self.done = True

    def _alias(self, event: AliasEvent) -> None:
        mark = _mark(event)
        name = event.anchor or ""
        if self.open_anchors.get(name):
            raise self._error(mark, f"recursive alias `*{excerpt(name)}`: it refers to itself")
        anchor = self.anchors.get(name)
        if anchor is None:
            raise self._error(mark, f"undefined alias `*{excerpt(name)}`")
        self._count(anchor.count, mark, name)
        if self.stack and self.stack[-1].is_map and self.stack[-1].key is _NO_KEY:
            if anchor.key_text is None:
                raise self._error(
                    mark, f"a mapping key must be a scalar; `*{excerpt(name)}` is not"
                )
            self._key(anchor.key_text, mark, plain=False)
            return
        self._check_depth(mark, anchor.height)
        path, record = self._attach(anchor.value, mark)
        if record:
            self._copy_positions(anchor, path)
        if self.stack:
            parent = self.stack[-1]
            parent.height = max(parent.height, anchor.height + 1)
        self.done = not self.stack

    def _copy_positions(self, anchor: _Anchor, path: DocPath) -> None:
        """Give the alias's copy of the anchored subtree the positions of the original."""
        if anchor.hint is not None:
            self.hints.append((path, anchor.hint))
        cut = len(anchor.path)
        for source, target in (
            (anchor.marks, self.marks),
            (anchor.keys, self.key_marks),
        ):
            start, end = source
            target.extend([((*path, *old[cut:]), mark) for old, mark in target[start:end]])
        start, end = anchor.hints
        self.hints.extend([((*path, *old[cut:]), hint) for old, hint in self.hints[start:end]])
