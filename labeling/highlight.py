"""Sample text with an LF's matches wrapped in <mark>, escaped piece by piece so user text never becomes HTML."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Long texts are cut to a window around the first match, so a preview card stays readable.
WINDOW_CHARS = 600
CONTEXT_BEFORE = 120


def _merged(spans, length: int) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for start, stop in sorted((max(0, int(a)), min(length, int(b))) for a, b in spans):
        if stop <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], stop)
        else:
            out.append([start, stop])
    return [(a, b) for a, b in out]


def highlight(text: str, spans, window: int = WINDOW_CHARS) -> SafeString:
    """`spans` are code-point offsets [start, stop) into `text` (Python string indexes)."""
    spans = _merged(spans, len(text))
    begin, end = 0, len(text)
    if len(text) > window:
        first = spans[0][0] if spans else 0
        begin = max(0, min(first - CONTEXT_BEFORE, len(text) - window))
        end = begin + window
    pieces = ["…" if begin > 0 else ""]
    cursor = begin
    for start, stop in spans:
        if stop <= begin or start >= end:
            continue
        start, stop = max(start, begin), min(stop, end)
        pieces.append(escape(text[cursor:start]))
        pieces.append(f"<mark>{escape(text[start:stop])}</mark>")
        cursor = stop
    pieces.append(escape(text[cursor:end]))
    if end < len(text):
        pieces.append("…")
    return mark_safe("".join(pieces))
