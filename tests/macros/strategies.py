"""Hypothesis strategies the macro tests share: name segments, macro names, XML-safe text."""

from __future__ import annotations

from hypothesis import strategies as st

SEGMENT = st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True)
FIRST = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,7}", fullmatch=True)
NAMES = st.builds(
    lambda first, rest: ".".join([first, *rest]), FIRST, st.lists(SEGMENT, min_size=1, max_size=4)
)
XML_TEXT = st.text(
    st.characters(
        codec="utf-8",
        blacklist_characters="".join(map(chr, [*range(9), 11, 12, *range(14, 32)]))
        + "\ufffe\uffff",
    )
)
