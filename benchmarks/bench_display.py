"""Cost of a fresh notebook: ``import iovmodel`` and the first display of a Result and a Path.

Each measurement runs in a new interpreter (imports are cached per process), best of
``--repeat``.  The display goes through IPython's formatter, which calls every
``_repr_*_`` a notebook would; the last column says whether sympy got imported.
Target (issue 10): the first display of any object < 0.3 s, and no sympy.

    python benchmarks/bench_display.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _timing import fmt_t  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import iovmodel as iov
t1 = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
fmt = InteractiveShell.instance().display_formatter
r = iov.analyze("virtio-blk")
p = iov.path("vhost-scsi", workers=4)
t2 = time.perf_counter()
fmt.format(r)
t3 = time.perf_counter()
fmt.format(p)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "result": t3 - t2, "path": t4 - t3,
                  "sympy": "sympy" in sys.modules}))
"""


def one() -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    runs = [one() for _ in range(ap.parse_args().repeat)]
    best = {k: min(r[k] for r in runs) for k in ("import", "result", "path")}
    print(f"import iovmodel      {fmt_t(best['import'])}")
    print(f"first Result display {fmt_t(best['result'])}")
    print(f"first Path display   {fmt_t(best['path'])}")
    print(f"sympy imported by the displays: {any(r['sympy'] for r in runs)}")


if __name__ == "__main__":
    main()
