"""Zero-shot error of the default profile on the bundled datasets (no fitting): the median
|predicted / measured - 1| over each dataset's predictable rows.

    .venv/bin/python benchmarks/bench_zero_shot.py

The quick check of a change to the defaults (``bench_fidelity.py`` adds the fits); a row's
``options`` (e.g. ``vcpus=1``) are its own, the rest are the catalog's defaults.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import iovmodel as iov  # noqa: E402
from iovmodel.calibrate.rows import predictable  # noqa: E402
from iovmodel.fit import predict  # noqa: E402


def main() -> None:
    warnings.simplefilter("ignore")
    for name in iov.datasets.list()["name"]:
        d = iov.datasets.load(name)
        d = d[predictable(d)["predictable"]]
        if d.empty:
            continue
        p = predict(d, iov.HostProfile.default())
        err = np.nanmedian(np.abs(p["rel_error"]))
        print(f"{name:<26} rows {len(d):>5}  median |error| {err:6.1%}")


if __name__ == "__main__":
    main()
