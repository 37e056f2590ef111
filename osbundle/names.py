"""What a bundle member's name may be: the reader's limits, and what Windows and bidi forbid.

One home for both sides of the format. `member_name_problem` is the reader's check
(`bundle/tarread.py` refuses every name it objects to); the profile's sources are checked with
the same function plus the stricter rules a build adds (`profile/sources.py`), so that a
profile `validate` accepts never builds a bundle `verify`, `inspect` or `unpack` refuses.
The rules are documented in docs/profile-format.md, "Bundle paths".
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

MAX_NAME_BYTES: Final = 4096  # a whole member name, `<profile-name>/` included (PATH_MAX)
MAX_COMPONENT_BYTES: Final = 255  # one component (NAME_MAX of ext4, XFS, btrfs, tmpfs)
# Windows without long-path support: MAX_PATH is 260 UTF-16 units, the drive (`C:\`) and the
# final NUL included, and a directory may only be 248. A bundle is unpacked below some
# directory, so its member names get 200 of them: a base directory of up to 45 characters
# (`C:\Windows\Temp\osbundle-unpack\` is 31) still leaves every member and its directory inside.
WINDOWS_MAX_PATH: Final = 200

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Embedding and override controls (U+202A-U+202E) and isolates (U+2066-U+2069): they make a
# name display as another one ("Trojan Source").
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_WINDOWS_CHARS = re.compile(r'[<>:"|?*\\\x00-\x1f]')
_DEVICE_STEMS: Final = frozenset({"CON", "PRN", "AUX", "NUL", "COM", "LPT"})  # a quick test
_WINDOWS_DEVICES: Final = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{port}{digit}" for port in ("COM", "LPT") for digit in "123456789\u00b9\u00b2\u00b3"]
)


def member_name_problem(name: str) -> str | None:
    """Why the reader refuses `name` as a member name, completing "member <name> ...", or None.

    Absolute names, `.`/`..` and empty components, control characters, and names over the
    byte limits (MAX_NAME_BYTES in all, MAX_COMPONENT_BYTES per component).
    """
    size = len(name) if name.isascii() else len(name.encode())
    if size <= MAX_COMPONENT_BYTES and _plain(name):
        return None
    parts = name.split("/")
    too_long = size > MAX_NAME_BYTES or any(len(p.encode()) > MAX_COMPONENT_BYTES for p in parts)
    reasons = (
        (name.startswith("/"), "has an absolute name"),
        (_CONTROL.search(name) is not None, "has a control character in its name"),
        (".." in parts or "." in parts, "has a '.' or '..' component"),
        ("" in parts, "has an empty path component"),
        (too_long, "has a name longer than the limits"),
    )
    return next((why for bad, why in reasons if bad), None)


def _plain(name: str) -> bool:
    """Nothing member_name_problem could object to but length (a quick test: when it says
    False, the detailed checks decide). isprintable() is False for every control character."""
    return (
        name.isprintable()
        and name not in ("", ".", "..")
        and not name.startswith(("/", "./", "../"))
        and not name.endswith(("/", "/.", "/.."))
        and "//" not in name
        and "/./" not in name
        and "/../" not in name
    )


def component_problem(component: str, windows: bool) -> str | None:
    """Why one component of a bundle path is refused at build time, or None.

    Everywhere: over MAX_COMPONENT_BYTES, bidi controls. Windows also: see
    `windows_component_problem`.
    """
    is_ascii = component.isascii()  # ASCII holds no bidi control
    if is_ascii and len(component) <= MAX_COMPONENT_BYTES and not windows:
        return None
    try:
        size = len(component) if is_ascii else len(component.encode())
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if size > MAX_COMPONENT_BYTES:
        return f"is {size} bytes long (a component may have {MAX_COMPONENT_BYTES})"
    if not is_ascii and _BIDI.search(component):
        return "holds a bidirectional control character (U+202A-U+202E, U+2066-U+2069)"
    return windows_component_problem(component) if windows else None


def windows_component_problem(component: str) -> str | None:
    """`<>:"|?*\\` or control characters, a trailing dot or space (Windows strips them), a
    reserved device name (with any extension: `nul.txt` is NUL too)."""
    bad = _WINDOWS_CHARS.search(component)
    if bad:
        return f"holds {bad.group()!r}, which Windows does not allow in a file name"
    if component.endswith((".", " ")):
        return "ends with a dot or a space, which Windows strips"
    device = component[:3].upper() in _DEVICE_STEMS
    if device and component.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
        return "is a reserved device name on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9)"
    return None


def path_length_problem(name: str, windows: bool) -> str | None:
    """Why a whole member name (`<profile-name>/...`) is too long, or None."""
    if len(name) * 4 <= min(MAX_NAME_BYTES, 2 * WINDOWS_MAX_PATH):
        return None  # too short to be over either limit, in any encoding
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        return f"is {size} bytes long with its top directory (the limit is {MAX_NAME_BYTES})"
    units = len(name.encode("utf-16-le", "surrogatepass")) // 2
    if windows and units > WINDOWS_MAX_PATH:
        return (
            f"is {units} characters long with its top directory (the limit for Windows "
            f"is {WINDOWS_MAX_PATH}, to fit MAX_PATH once unpacked)"
        )
    return None


def windows_key(path: str) -> str:
    """`path` as Windows compares names: NFC, case-folded, trailing dots and spaces stripped."""
    folded = unicodedata.normalize("NFC", path).casefold()
    if "./" not in folded and " /" not in folded and not folded.endswith((".", " ")):
        return folded
    return "/".join(part.rstrip(". ") for part in folded.split("/"))


def shown(name: str) -> str:
    """A name quoted for a one-line message: control characters escaped, length capped."""
    text = repr(name)
    return text if len(text) <= 120 else text[:117] + "...'"
