"""``manifest fmt``: one canonical layout, comments kept, the model unchanged.

The formatter changes white space only, never the tokens or where lines break (a newline ends an
expression in Manifest): indentation is two spaces per open ``{``, ``(`` or ``[``, plus one level
for a continuation line (after a line ending with an operator or ``:``, a line starting with an
operator or a seed-constraint clause, and the lines indented like it after it); runs of blanks
inside a line become one space, with none after ``(``/``[`` or before ``)``/``]``/``,`` and one
after ``,``; tabs become spaces, CRLF becomes LF, trailing blanks go, blank lines collapse to one
(none at the start or end of a block or file).
Strings and comments are copied as written; a line that starts inside a multi-line string or
block comment is copied unchanged. ``tests/compiler/test_formatter.py`` checks over the
conformance fixtures and the examples that the IR is the same before and after, and that
formatting twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

INDENT = "  "
_OPENERS = {"{": "}", "(": ")", "[": "]"}
_CLOSERS = frozenset(_OPENERS.values())
#: a line starting with one of these continues the previous one
_CONTINUES = ("?", ":", "&&", "||", "+", "-", "*", "/", "%", ".", "==", "!=", "<", ">", "=>")
_CONTINUE_WORDS = frozenset(
    ["and", "or", "when", "message", "code", "overridePolicy", "override", "severity"]
)
#: a line ending with one of these is continued by the next
_OPEN_ENDINGS = ("=", "?", ":", "&&", "||", "+", "-", "*", "/", "and", "or")


@dataclass
class _Line:
    """A source line split into code segments and verbatim segments (strings, comments)."""

    #: [(is_code, text)]
    parts: list[tuple[bool, str]]
    #: the line starts inside a multi-line string or block comment: copied unchanged
    verbatim: bool
    raw: str

    @property
    def code(self) -> str:
        # a string stands as "S" (its brackets do not count); comments as nothing
        return "".join(
            text if is_code else ("" if text.startswith(("//", "/*")) else ' "S" ')
            for is_code, text in self.parts
        )

    @property
    def blank(self) -> bool:
        return not self.verbatim and not self.raw.strip()

    @property
    def comment_only(self) -> bool:
        stripped = [(c, t) for c, t in self.parts if not (c and not t.strip())]
        return bool(stripped) and not stripped[0][0] and stripped[0][1].startswith(("//", "/*"))


class _Scanner:
    """Splits lines into code and verbatim parts, carrying string/comment state across lines."""

    def __init__(self) -> None:
        self.mode: str | None = None  # None, "block" (/* */), or the open quote character

    def split(self, raw: str) -> _Line:
        verbatim = self.mode is not None
        parts: list[tuple[bool, str]] = []
        i, n = 0, len(raw)
        start = 0
        code = self.mode is None
        while i < n:
            ch = raw[i]
            if self.mode is None:
                if raw.startswith("//", i):
                    self._push(parts, True, raw[start:i])
                    parts.append((False, raw[i:]))
                    return _Line(parts, verbatim, raw)
                if raw.startswith("/*", i) or ch in "\"'`":
                    self._push(parts, True, raw[start:i])
                    start = i
                    self.mode = "block" if ch == "/" else ch
                    i += 2 if ch == "/" else 1
                    code = False
                    continue
                i += 1
                continue
            if self.mode == "block":
                if raw.startswith("*/", i):
                    i += 2
                    self._end(parts, raw, start, i)
                    start, code = i, True
                    continue
                i += 1
                continue
            if ch == "\\" and self.mode != "`":
                i += 2
                continue
            i += 1
            if ch == self.mode:
                self._end(parts, raw, start, i)
                start, code = i, True
        self._push(parts, code, raw[start:])
        # a string still open here continues on the next line (the lexer reads it to its closing
        # quote), so ``mode`` stays set and that line is copied verbatim
        return _Line(parts, verbatim, raw)

    def _end(self, parts: list[tuple[bool, str]], raw: str, start: int, end: int) -> None:
        parts.append((False, raw[start:end]))
        self.mode = None

    @staticmethod
    def _push(parts: list[tuple[bool, str]], is_code: bool, text: str) -> None:
        if text:
            parts.append((is_code, text))


def _space_code(text: str) -> str:
    """One space for each run of blanks; none after an opener or before a closer or comma."""
    out: list[str] = []
    pending_space = False
    for ch in text:
        if ch in " \t":
            pending_space = True
            continue
        if (pending_space and ch not in ")]," and not (out and out[-1] in "([")) or (
            out and out[-1] == "," and ch not in ")]"
        ):
            out.append(" ")
        pending_space = False
        out.append(ch)
    if pending_space and not (out and out[-1] in "(["):
        out.append(" ")
    return "".join(out)


def _render(line: _Line) -> str:
    pieces: list[str] = []
    for is_code, text in line.parts:
        if not is_code:
            if pieces and pieces[-1] and not pieces[-1].endswith((" ", "(", "[")) and text.startswith("//"):
                pieces.append(" ")
            pieces.append(text)
            continue
        spaced = _space_code(text)
        if pieces and pieces[-1].endswith(("(", "[")):
            spaced = spaced.lstrip(" ")
        if spaced.startswith(" ") and pieces and pieces[-1].endswith(" "):
            spaced = spaced[1:]
        pieces.append(spaced)
    return "".join(pieces).strip(" ")


def _depth_change(code: str) -> tuple[int, int]:
    """(closers at the start of the line, net bracket change over the line)."""
    stripped = code.lstrip()
    leading = 0
    for ch in stripped:
        if ch in _CLOSERS:
            leading += 1
        elif ch in " \t":
            continue
        else:
            break
    net = sum(1 for ch in code if ch in _OPENERS) - sum(1 for ch in code if ch in _CLOSERS)
    return leading, net


def _starts_continuation(code: str) -> bool:
    stripped = code.lstrip()
    if stripped.startswith(_CONTINUES) and not stripped.startswith("//"):
        return True
    word, _, rest = stripped.partition(" ")
    # `message: "..."` inside a constraint block is a field, not a seed clause
    return word in _CONTINUE_WORDS and not rest.lstrip().startswith(":")


def _ends_open(code: str) -> bool:
    stripped = code.rstrip()
    if stripped.endswith("?") and "=" not in stripped:
        return False  # `property x: string?` is a nullable type, not a ternary
    last_word = stripped.rsplit(" ", 1)[-1]
    return stripped.endswith(_OPEN_ENDINGS[:-2] + ("=>",)) or last_word in ("and", "or")


def format_source(source: str) -> str:
    """The canonical layout of ``source`` (white space only; see the module docstring)."""
    text = source.replace("\r\n", "\n").replace("\r", "\n")
    scanner = _Scanner()
    lines = [scanner.split(raw.rstrip(" \t") if not scanner.mode else raw) for raw in text.split("\n")]
    out: list[str] = []
    depth = 0
    prev_indent = -1  # original indentation of the previous code line
    prev_continued = False
    prev_open = False
    prev_depth = 0
    blank_pending = False
    for line in lines:
        if line.verbatim:
            out.append(line.raw)
            blank_pending = False
            code = line.code
            depth = max(0, depth + _depth_change(code)[1])
            continue
        if line.blank:
            blank_pending = bool(out)
            continue
        code = line.code
        leading, net = _depth_change(code)
        level = max(0, depth - leading)
        original_indent = len(line.raw) - len(line.raw.lstrip(" \t"))
        continued = False
        if not line.comment_only and leading == 0 and depth <= prev_depth:
            continued = (
                prev_open
                or _starts_continuation(code)
                or (
                    prev_continued
                    and original_indent >= prev_indent
                    and depth == prev_depth
                    and not code.lstrip()[:1].isalpha()  # a new statement starts with a word
                )
            )
        if continued:
            level += 1
        if blank_pending and out and not out[-1].rstrip().endswith(("{", "(", "[")) and leading == 0:
            out.append("")
        blank_pending = False
        out.append(INDENT * level + _render(line))
        if not line.comment_only:
            prev_indent, prev_continued, prev_depth = original_indent, continued, depth
            prev_open = _ends_open(code) and net == 0
        depth = max(0, depth + net)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out) + "\n" if out else ""
