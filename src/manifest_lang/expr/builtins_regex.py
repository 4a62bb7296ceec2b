"""Translate JavaScript regular expressions (no flags, Annex B) into Python ``re`` patterns.

``matches(s, pattern)`` is ``new RegExp(pattern).test(s)`` in the reference. The two dialects
agree on most syntax; the differences handled here are the ones users hit:
  * ``\\d \\w \\b`` are ASCII-only in JS (compiled with ``re.ASCII``); ``\\s`` is Unicode whitespace;
  * ``.`` excludes all four JS line terminators; ``$`` matches only at the very end;
  * ``(?<name>…)`` / ``\\k<name>`` named groups; ``[^]`` (any) and ``[]`` (nothing);
  * identity escapes of letters (``\\A`` is "A" in JS, an anchor in Python); a ``{`` that does not
    start a quantifier is literal;
  * Python-only syntax that JS rejects (inline flags, atomic groups, possessive quantifiers) is
    reported invalid, so ``matches`` gives false like the reference.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

from manifest_lang.expr.values import JS_WHITESPACE

_SPACE_SET = "".join(re.escape(c) for c in JS_WHITESPACE)
_DOT = "[^\\n\\r\\u2028\\u2029]"
_QUANTIFIER_RE = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_NAMED_GROUP_RE = re.compile(r"<([A-Za-z_$][A-Za-z0-9_$]*)>")
_HEX2_RE = re.compile(r"[0-9a-fA-F]{2}")
_HEX4_RE = re.compile(r"[0-9a-fA-F]{4}")
_CLASS_ESCAPE_KEEP = frozenset("dDwWbfnrtv0")
_ESCAPE_KEEP = frozenset("dDwWbfnrtv0")
_CLASS_ESCAPES = frozenset("dDwWsS")
# Python's \B never matches in an empty string; JS's does
_NOT_WORD_BOUNDARY = "(?:(?<=\\w)(?=\\w)|(?<!\\w)(?!\\w))"


class JsRegexSyntaxError(ValueError):
    """The pattern is not valid in the JavaScript dialect (or has no faithful Python equivalent)."""


@lru_cache(maxsize=512)
def compile_js_regex(pattern: str) -> re.Pattern[str] | None:
    """The compiled equivalent of ``new RegExp(pattern)``, or ``None`` if JS would throw."""
    try:
        translated = _Translator(pattern).translate()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile(translated, re.ASCII)
    except (JsRegexSyntaxError, re.error, OverflowError, RecursionError):
        return None


#: Python's largest repetition count is 2**32 - 2 (``re`` raises OverflowError past it)
_MAX_REPEAT = 2**32 - 2


def _bounded_quantifier(quantifier: str) -> str:
    """``{n}``/``{n,m}`` with counts past Python's limit lowered to it. JavaScript accepts any
    count; a string that long is never tested, so the match results are the same."""
    low, comma, high = quantifier[1:-1].partition(",")
    if high and _order_key(low) > _order_key(high):
        raise JsRegexSyntaxError("numbers out of order in {} quantifier")
    if _count(low) <= _MAX_REPEAT and (not high or _count(high) <= _MAX_REPEAT):
        return quantifier
    low = str(min(_count(low), _MAX_REPEAT))
    high = str(min(_count(high), _MAX_REPEAT)) if high else ""
    return "{" + low + comma + high + "}"


def _order_key(digits: str) -> tuple[int, str]:
    digits = digits.lstrip("0")
    return len(digits), digits


def _count(digits: str) -> int:
    # int() refuses strings past 4300 digits; a count of 16 digits is already past the limit
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 15 else _MAX_REPEAT + 1


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.src = pattern
        self.i = 0
        self.out: list[str] = []
        self.group_count = _count_groups(pattern)
        self.opened = 0  # capturing groups opened so far (their numbers)
        self.group_stack: list[int | None] = []  # number of each open group, None if non-capturing
        self.closed: set[int] = set()
        self.named_numbers: dict[str, int] = {}

    def translate(self) -> str:
        src = self.src
        while self.i < len(src):
            c = src[self.i]
            if c == "\\":
                self._escape(in_class=False)
            elif c == "[":
                self._char_class()
            elif c == "(":
                self._group()
            elif c == ")":
                if self.group_stack and (number := self.group_stack.pop()) is not None:
                    self.closed.add(number)
                self.out.append(")")
                self.i += 1
            elif c == ".":
                self.out.append(_DOT)
                self.i += 1
            elif c == "$":
                self.out.append("\\Z")
                self.i += 1
            elif c in "*+?":
                self.out.append(c)
                self.i += 1
                self._after_quantifier()
            elif c == "{":
                self._brace()
            elif c == "}":
                self.out.append("\\}")
                self.i += 1
            else:
                self.out.append(c)
                self.i += 1
        return "".join(self.out)

    def _after_quantifier(self) -> None:
        """Consume a lazy ``?``; a second quantifier is "Nothing to repeat" in JS."""
        src = self.src
        if self.i < len(src) and src[self.i] == "?":
            self.out.append("?")
            self.i += 1
        if self.i < len(src) and (src[self.i] in "*+?" or _QUANTIFIER_RE.match(src, self.i)):
            raise JsRegexSyntaxError("nothing to repeat")

    def _brace(self) -> None:
        m = _QUANTIFIER_RE.match(self.src, self.i)
        if m is None:
            self.out.append("\\{")  # Annex B: a brace that is not a quantifier is literal
            self.i += 1
            return
        self.out.append(_bounded_quantifier(m.group(0)))
        self.i = m.end()
        self._after_quantifier()

    def _group(self) -> None:
        src = self.src
        if not src.startswith("(?", self.i):
            self.out.append("(")
            self.i += 1
            self._open_capturing()
            return
        rest = src[self.i + 2 : self.i + 4]
        if rest[:1] in (":", "=", "!") or rest in ("<=", "<!"):
            self.out.append("(?")
            self.i += 2
            self.group_stack.append(None)
            return
        named = _NAMED_GROUP_RE.match(src, self.i + 2)
        if named is None:
            raise JsRegexSyntaxError("invalid group")
        self.out.append(f"(?P<{_group_name(named.group(1))}>")
        self.i = named.end()
        self._open_capturing()
        self.named_numbers[named.group(1)] = self.opened

    def _open_capturing(self) -> None:
        self.opened += 1
        self.group_stack.append(self.opened)

    def _reference(self, group: int | str) -> str:
        """A backreference: a group that took no part in the match matches empty in JS (Python
        fails), and a reference to a group not closed yet always matches empty."""
        number = group if isinstance(group, int) else self.named_numbers.get(group, 0)
        if number not in self.closed:
            return "(?:)"
        ref = f"\\{group}" if isinstance(group, int) else f"(?P={_group_name(group)})"
        target = group if isinstance(group, int) else _group_name(group)
        return f"(?({target}){ref})"

    def _char_class(self) -> None:
        src = self.src
        if src.startswith("[]", self.i):
            self.out.append("(?!)")
            self.i += 2
            return
        if src.startswith("[^]", self.i):
            self.out.append("[\\s\\S]")
            self.i += 3
            return
        self.out.append("[")
        self.i += 1
        if self.i < len(src) and src[self.i] == "^":
            self.out.append("^")
            self.i += 1
        while self.i < len(src):
            c = src[self.i]
            if c == "]":
                self.out.append("]")
                self.i += 1
                return
            if c == "\\":
                self._escape(in_class=True)
                continue
            # literal in JS, but set operators / nested sets in Python's future syntax; a "-" next to
            # a class escape ([\d-z]) is a literal in JS (Annex B) and an error in Python
            literal = c in "[&~|" or (c == "-" and self._dash_beside_class_escape())
            self.out.append("\\" + c if literal else c)
            self.i += 1
        raise JsRegexSyntaxError("unterminated character class")

    def _dash_beside_class_escape(self) -> bool:
        src, i = self.src, self.i
        before = i >= 2 and src[i - 2] == "\\" and src[i - 1] in _CLASS_ESCAPES
        after = src[i + 1 : i + 2] == "\\" and src[i + 2 : i + 3] in _CLASS_ESCAPES
        return before or after

    def _escape(self, in_class: bool) -> None:
        src = self.src
        if self.i + 1 >= len(src):
            raise JsRegexSyntaxError("\\ at end of pattern")
        c = src[self.i + 1]
        self.i += 2
        if c == "s":
            self.out.append(_SPACE_SET if in_class else f"[{_SPACE_SET}]")
        elif c == "S":
            self.out.append("\\S" if in_class else f"[^{_SPACE_SET}]")
        elif c == "B" and not in_class:
            self.out.append(_NOT_WORD_BOUNDARY)
        elif c in (_CLASS_ESCAPE_KEEP if in_class else _ESCAPE_KEEP):
            self.out.append("\\" + c)
        elif c == "c":
            self._control_escape()
        elif c == "x":
            self._hex_escape(_HEX2_RE, "x")
        elif c == "u":
            self._hex_escape(_HEX4_RE, "u")
        elif c == "k" and not in_class:
            self._named_backreference()
        elif c.isdigit() and c.isascii():
            self._backreference(in_class)
        else:
            # identity escape: a letter stands for itself in JS (non-unicode mode)
            self.out.append(re.escape(c))

    def _control_escape(self) -> None:
        src = self.src
        if self.i < len(src) and src[self.i].isascii() and src[self.i].isalpha():
            self.out.append(re.escape(chr(ord(src[self.i]) % 32)))
            self.i += 1
        else:
            self.out.append("\\\\c")  # Annex B: "\c" not followed by a letter is a literal backslash-c

    def _hex_escape(self, digits_re: re.Pattern[str], letter: str) -> None:
        m = digits_re.match(self.src, self.i)
        if m is None:
            self.out.append(letter)
            return
        self.out.append(re.escape(chr(int(m.group(0), 16))))
        self.i = m.end()

    def _named_backreference(self) -> None:
        named = _NAMED_GROUP_RE.match(self.src, self.i)
        if named is None or "(?<" + named.group(1) + ">" not in self.src:
            self.out.append("k")
            return
        self.out.append(self._reference(named.group(1)))
        self.i = named.end()

    def _backreference(self, in_class: bool) -> None:
        src = self.src
        start = self.i - 1
        while self.i < len(src) and src[self.i].isascii() and src[self.i].isdigit():
            self.i += 1
        number = int(src[start : self.i])
        if not in_class and 0 < number <= self.group_count:
            self.out.append(self._reference(number))
            return
        # Annex B: not a group number -> a legacy octal escape, or the digits themselves
        octal = re.match(r"[0-7]{1,3}", src[start : self.i])
        if octal and int(octal.group(0), 8) < 256:
            self.out.append(re.escape(chr(int(octal.group(0), 8))))
            self.out.append(re.escape(src[start + octal.end() : self.i]))
        else:
            self.out.append(re.escape(src[start : self.i]))


def _group_name(name: str) -> str:
    # JS names may contain "$", Python group names may not
    return name.replace("$", "_S_")


def _count_groups(pattern: str) -> int:
    """Capturing groups: ``(`` not followed by ``?``, plus named groups (outside classes)."""
    count = 0
    i = 0
    in_class = False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(" and (not pattern.startswith("(?", i) or _NAMED_GROUP_RE.match(pattern, i + 2)):
            count += 1
        i += 1
    return count
