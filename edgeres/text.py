"""Showing user data safely: file names escaped for the terminal, credentials cut from sources.

File names and stream addresses come from users (or from whoever named a downloaded file): a
newline or a terminal escape code in one must not reach the terminal raw, and a password in
``rtsp://user:password@cam/`` must not reach a log, a web page or a JSON document. Every message
that shows a path or a source goes through ``shown`` or ``redact``; the CLI's error line and
log lines pass through ``shown`` once more, so a message built elsewhere is safe too.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from pathlib import PurePath

# Characters that move the cursor, end a line or start an escape sequence; bidi overrides that
# make a name read differently from what it is.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def _unsafe(ch: str) -> bool:
    return ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp")


def shown(text: str | PurePath | object) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``, ``\\u202e``); the rest as is.

    Non-ASCII names stay readable; only what a terminal would act on is escaped.
    """
    text = str(text)
    if not any(_unsafe(ch) for ch in text):
        return text
    out = []
    for ch in text:
        if not _unsafe(ch):
            out.append(ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def shown_lines(text: str) -> str:
    """Like ``shown`` but keeps line breaks (multi-line summaries); each line is escaped."""
    return "\n".join(
        "\t".join(shown(part) for part in line.split("\t")) for line in str(text).split("\n")
    )


# Greedy up to the last "@" before the path: a password may hold an unescaped "@".
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@")
_SECRET_PARAMS = re.compile(
    r"(?i)([?&;](?:password|passwd|pwd|pass|token|key|secret|auth|sig|signature|user)=)[^&#;\s]*"
)


def redact(source: str | object) -> str:
    """A source as it may be shown: ``rtsp://user:password@cam/`` -> ``rtsp://***@cam/``.

    Cuts the user-info part of every URL in the text (also inside a ``gst:`` pipeline) and the
    value of query parameters named like a secret (``?password=``, ``?token=``), and escapes
    control characters. Anything that is not a URL is returned escaped only.
    """
    text = str(source)
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)
    text = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}***", text)
    return shown(text)


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...), +, -,
# @), and tab / carriage return are read as the start of one by some importers.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """``value`` as a CSV cell a spreadsheet shows as text: control and bidi characters escaped
    as ``shown`` does (a class name's raw ESC or right-to-left override reaches whoever views
    the file), and a string that starts like a formula gets a leading ``'`` (OWASP's advice);
    numbers and ``None`` pass unchanged."""
    if not isinstance(value, str):
        return value
    value = shown(value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def _finite(obj: object) -> object:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def json_text(obj: object, **kwargs: object) -> str:
    """``json.dumps`` of ``obj`` as standard JSON: NaN and +/-Infinity become ``null``.

    ``json.dumps`` writes them as bare ``NaN``/``Infinity``, which no JSON parser but Python's
    accepts; a score or a metric that is not a number is shown as "no value" instead. Every JSON
    document edgeres prints or writes goes through here (``allow_nan=False`` checks it did).
    """
    return json.dumps(_finite(obj), allow_nan=False, **kwargs)  # type: ignore[arg-type]


def clipped(text: str, limit: int = 300) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out (a 1 MB "line" from a
    device is not an error message)."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def for_plot(text: str | object) -> str:
    """Text matplotlib draws as written: control characters escaped and every ``$`` escaped.

    matplotlib parses ``$...$`` as mathtext: a file or class name ``$\\undefinedcmd$`` raised a
    ParseException (a traceback) and ``$x^2$`` would be drawn as a formula. ``\\$`` is its
    literal dollar.
    """
    return shown(text).replace("$", r"\$")


# Characters with a meaning inside a Markdown line (emphasis, links, code, table cells); HTML's
# are replaced by entities.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()|~])")


def md_cell(text: str | object) -> str:
    """Text for one Markdown table cell or list item: HTML inert, Markdown syntax shown literally.

    ``<img onerror=...>`` becomes ``&lt;img onerror=...&gt;``, ``|`` cannot end the cell, a newline
    cannot end the row (control characters are escaped as ``shown`` does), and ``*``, ``[``,
    backticks... are backslash-escaped so a class name cannot make a link or emphasis.
    """
    text = _MD_SPECIAL.sub(r"\\\1", shown(text))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
