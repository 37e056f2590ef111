"""Render stage: substitute macros in the unattend files and scripts marked `rendered`.

The macro table is the profile's predefined values plus every settings member, whose `name` is
its namespace (macros.settings.macro_table). Each file to render is read once, through the same
read path as every source (macros.render.read_template), and becomes a member carrying the
rendered bytes; every other member passes through unchanged. The files rendered share one
RenderBudget, so that what the stage holds in memory stays within MAX_RENDERED_TOTAL. Errors
name a file as `validate` does: beside the profile file, as the user gave it
(`profiles/x/unattend/ks.cfg:19:218: ...`), so a build of several profiles says which failed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence

from osbundle.errors import InputError
from osbundle.kinds import RENDERED_KINDS, render_format
from osbundle.macros.grammar import Scalar
from osbundle.macros.render import RenderBudget, read_template, render_text
from osbundle.macros.settings import SettingsFile, macro_table
from osbundle.model import Member, MemberList, Profile


def render(profile: Profile, members: Sequence[Member]) -> tuple[Member, ...]:
    """`members` with every member to render replaced by one holding its rendered bytes."""
    if not any(needs_rendering(m) for m in members):
        return tuple(members)
    values = macro_values(profile, members)
    budget = RenderBudget()
    return tuple(
        render_member(profile, m, values, budget) if needs_rendering(m) else m for m in members
    )


def render_list(profile: Profile, members: MemberList, special: Sequence[Member]) -> MemberList:
    """`render` of a member list not held in memory: `special` are its settings members and
    those to render (profile/checks.is_special), the only ones this stage reads; the rendered
    members replace theirs as the list is read (RenderedMembers)."""
    ordered = sorted(special, key=lambda m: m.path.encode())  # as `render` meets them
    todo = [m for m in ordered if needs_rendering(m)]
    if not todo:
        return members
    values = macro_values(profile, ordered)
    budget = RenderBudget()
    done = {m.path: render_member(profile, m, values, budget) for m in todo}
    return RenderedMembers(members, done)


class RenderedMembers:
    """A MemberList with some members replaced by their rendered selves (few, and small:
    within MAX_RENDERED_TOTAL together)."""

    def __init__(self, base: MemberList, rendered: dict[str, Member]) -> None:
        self.base, self.rendered = base, rendered

    def __len__(self) -> int:
        return len(self.base)

    def __iter__(self) -> Iterator[Member]:
        return self._replaced(iter(self.base))

    def span(self, start: int, stop: int) -> Iterator[Member]:
        return self._replaced(self.base.span(start, stop))

    def descriptors(self) -> tuple[int, ...]:
        return self.base.descriptors()

    def _replaced(self, members: Iterator[Member]) -> Iterator[Member]:
        rendered = self.rendered
        for member in members:
            yield rendered.get(member.path, member)


def needs_rendering(member: Member) -> bool:
    return member.rendered and member.kind in RENDERED_KINDS and member.data is None


def macro_values(profile: Profile, members: Sequence[Member]) -> dict[str, Scalar]:
    """The macro table of the build; InputError for the first settings file that fails."""
    settings = [settings_file(profile, m) for m in members if m.kind == "settings"]
    values, problems = macro_table(profile, settings)
    if problems:
        first = problems[0]
        raise InputError(first.render(settings[first.index].shown))
    return values


def settings_file(profile: Profile, member: Member) -> SettingsFile:
    assert member.source is not None
    assert member.origin is not None
    return SettingsFile(
        member.name or "", display_path(profile, member), member.source, member.origin
    )


def render_member(
    profile: Profile,
    member: Member,
    values: Mapping[str, Scalar],
    budget: RenderBudget | None = None,
) -> Member:
    assert member.source is not None
    assert member.origin is not None
    shown = display_path(profile, member)
    text = read_template(member.source, member.origin, shown)
    fmt = render_format(profile.os.family, member.kind, member.path)
    data = render_text(text, values, fmt, shown, budget).encode("utf-8")
    return member._replace(data=data, source=None, size=len(data), rendered=True)


def display_path(profile: Profile, member: Member) -> str:
    """How errors name a member's file: beside the profile file as the user named it, as
    `validate` names it (profile.checks.shown_path), a base profile's files beside the base."""
    if member.source is None:
        return member.path
    beside = os.path.relpath(member.source, profile.root)
    return os.path.normpath(os.path.join(os.path.dirname(profile.path), beside))
