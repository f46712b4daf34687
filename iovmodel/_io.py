"""Writing user-visible files: atomically, and never over an existing file unless asked."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: bytes | str, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one.

    Raises FileExistsError when ``path`` exists and ``overwrite`` is false, also when
    the file appears while we write (the final step is a hard link, which fails on
    an existing name).
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p} exists; pass overwrite=True to replace it")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=p.parent if str(p.parent) else ".", prefix=f".{p.name}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        if overwrite:
            os.replace(tmp, p)
        else:
            os.link(tmp, p)
            os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p
