"""Terminal text: lines that fit a 100-column terminal."""

from __future__ import annotations

import textwrap

#: Width of every line the command line prints.
WIDTH = 100


def wrap(text: str, width: int = WIDTH) -> str:
    """Each line longer than ``width`` wrapped at spaces, continuations indented two more.

    Words longer than a line are kept whole (a path or a URL stays copyable).
    """
    out = []
    for line in text.splitlines():
        if len(line) <= width:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()) + 2)
        out.extend(textwrap.wrap(line, width, subsequent_indent=indent, break_long_words=False,
                                 break_on_hyphens=False) or [""])
    return "\n".join(out)
