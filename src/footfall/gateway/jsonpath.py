"""Where in a JSON document a problem is: the path (``events[0].params.title``) of a byte offset
or of the first value nested deeper than a limit.

Used only on the error path, to name the field of a body msgspec refused for invalid UTF-8 or
for nesting past the interpreter's recursion limit (its own messages do not say where). The
scan reads tokens, not values, so it works on bodies that are not valid JSON at all.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.DOTALL)
MAX_SHOWN = 100  # characters of a path shown in a message
MAX_KEY = 40  # characters of one object key shown


class _Level:
    __slots__ = ("index", "is_array", "key", "wants_key")

    def __init__(self, is_array: bool) -> None:
        self.is_array = is_array
        self.index = 0
        self.key = ""
        self.wants_key = not is_array


def _segment(level: _Level) -> str:
    if level.is_array:
        return f"[{level.index}]"
    return f".{level.key}" if level.key else ""


def _render(prefix: str, stack: list[_Level]) -> str:
    path = prefix + "".join(_segment(level) for level in stack)
    path = path.lstrip(".") or "request body"
    return path if len(path) <= MAX_SHOWN else path[:MAX_SHOWN] + "…"


def _key(token: bytes) -> str:
    text = token[1:-1].decode("utf-8", errors="replace")
    return text if len(text) <= MAX_KEY else text[:MAX_KEY] + "…"


def locate(
    body: bytes, *, offset: int | None = None, depth: int | None = None, prefix: str = ""
) -> str:
    """The path of the value holding byte ``offset``, or of the first container nested more
    than ``depth`` levels deep; ``prefix`` is the path of ``body`` itself within a larger one."""
    stack: list[_Level] = []
    for match in _TOKEN.finditer(body):
        token = match.group()
        if offset is not None and match.end() > offset:
            if token[:1] == b'"' and match.start() <= offset and stack and stack[-1].wants_key:
                stack[-1].key = _key(token)  # the bad bytes are in this name
            return _render(prefix, stack)
        if token[:1] in b"[{" and depth is not None and len(stack) >= depth:
            return _render(prefix, stack)
        _step(stack, token)
    return _render(prefix, stack)


def _step(stack: list[_Level], token: bytes) -> None:
    char = token[:1]
    if char in b"[{":
        stack.append(_Level(is_array=char == b"["))
    elif not stack:
        return
    elif char in b"]}":
        stack.pop()
    elif char == b",":
        if stack[-1].is_array:
            stack[-1].index += 1
        else:
            stack[-1].wants_key = True
    elif char == b":":
        stack[-1].wants_key = False
    elif stack[-1].wants_key:
        stack[-1].key = _key(token)
