"""Writing user-visible files: atomically, and never over an existing file unless asked."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, data: bytes | str, *, overwrite: bool = False,
                 flag: str = "overwrite=True") -> Path:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one.

    The file gets the permissions a plain ``open(path, "w")`` would (0666 less the
    umask), not the 0600 of a temporary file, so collaborators can read it.

    Raises FileExistsError when ``path`` exists and ``overwrite`` is false, also when
    the file appears while we write (the final step is a hard link, which fails on
    an existing name); ``flag`` is how the caller asks to overwrite (``--overwrite``
    on the command line).  Any other failure is an OSError naming ``path``, never the
    hidden temporary file.
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p} exists; pass {flag} to replace it")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=p.parent if str(p.parent) else ".", prefix=f".{p.name}.",
                                   suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.chmod(tmp, 0o666 & ~_umask())
        if overwrite:
            os.replace(tmp, p)
        else:
            os.link(tmp, p)
            os.unlink(tmp)
    except FileExistsError:
        _remove(tmp)
        raise FileExistsError(f"{p} exists; pass {flag} to replace it") from None
    except OSError as exc:
        _remove(tmp)
        raise OSError(exc.errno, f"cannot write {p}: {exc.strerror}") from None
    except BaseException:
        _remove(tmp)
        raise
    return p


def _remove(tmp: str | None) -> None:
    if tmp is not None and os.path.exists(tmp):
        os.unlink(tmp)
