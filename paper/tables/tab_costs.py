"""Table: the host cost profile (every number the model uses, with its source)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common as C  # noqa: E402

REQUIRES: tuple[str, ...] = ()


def _short(source: str, n: int = 60) -> str:
    s = " ".join(str(source).split())
    return s if len(s) <= n else s[: n - 1].rstrip() + "…"


def main(out: Path, fast: bool = False) -> dict:
    t = C.host().to_frame()
    df = C.pd.DataFrame({"cost": t["name"], "value": t["value"], "unit": t["unit"],
                         "typical": [f"{a:g}–{b:g}" for a, b in zip(t["typical_lo"],
                                                                    t["typical_hi"],
                                                                    strict=True)],
                         "source (abridged)": [_short(s) for s in t["source"]]})
    C.write_table(df, out, "tab_costs", "Default host costs (HostProfile.default()): value, "
                  "typical range and source of each.", formats={"value": "g"},
                  align="lrllp{0.45\\linewidth}")
    numbers = {f"{n}": float(v) for n, v in zip(t["name"], t["value"], strict=True)}
    numbers["count"] = len(t)
    C.write_numbers(out, "tab_costs", numbers)
    return numbers


if __name__ == "__main__":
    C.cli(main, __doc__)
