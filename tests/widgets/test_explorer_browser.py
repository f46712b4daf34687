"""The explorer in a real browser: Voila serves notebooks/05_explorer.ipynb on
127.0.0.1, Playwright drives Debian's Chromium, drags a cost slider, and the
throughput the page displays must become the value ``iov.analyze`` gives for the
new setting.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs
it), and the ``voila`` and ``playwright`` Python packages (the ``dev`` extra).
Never downloads a browser.  Skipped with the reason where something is missing,
except under CI (``CI`` set), where a missing piece is a failure.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import iovmodel as iov
from iovmodel.widgets.views import fmt as _fmt

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "05_explorer.ipynb"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
SERVE_TIMEOUT_S = 180  # Voila answers once the notebook has run (a cold kernel on a busy VM)
UPDATE_TIMEOUT_S = 60
SIM_TIMEOUT_S = 300  # a cold numba cache compiles the simulator (~20 s on 2 cores)


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Debian's Chromium is not installed ({CHROMIUM}; apt-get install chromium)"
    for mod in ("voila", "playwright"):
        if importlib.util.find_spec(mod) is None:
            return f"the {mod} package is not installed (pip install -e '.[dev]')"
    if not NOTEBOOK.exists():
        return f"{NOTEBOOK} is missing"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def voila_url(tmp_path):
    why = _missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run under CI: {why}")
        pytest.skip(why)
    port = _free_port()
    log = open(tmp_path / "voila.log", "w")  # noqa: SIM115 - closed in the finally below
    env = dict(os.environ, JUPYTER_PLATFORM_DIRS="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", str(NOTEBOOK), "--no-browser", f"--port={port}",
         "--Voila.ip=127.0.0.1", "--Voila.root_dir=" + str(NOTEBOOK.parent)],
        cwd=NOTEBOOK.parent, stdout=log, stderr=subprocess.STDOUT, env=env,
        start_new_session=True)  # its own process group: the kernel dies with it
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:  # wait for the port (the page itself renders later, in the browser)
            if proc.poll() is not None:
                pytest.fail(f"voila exited with {proc.returncode}:\n"
                            + (tmp_path / "voila.log").read_text()[-3000:])
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                pytest.fail("voila did not open its port within 30 s")
            time.sleep(0.3)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        log.close()


def _cell_text(page, cls: str, path: str) -> str:
    return page.locator(f"td.{cls}[data-path='{path}']").inner_text().strip()


def _drag_and_wait(page, handle, dx: float, cell: str) -> float:
    """Drag a slider handle by dx pixels; seconds from the release until the table cell and
    the figure have both changed."""
    old_text = page.locator(cell).inner_text()
    old_src = page.locator(".iov-figure").get_attribute("src")
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=6)
    t0 = time.monotonic()
    page.mouse.up()
    page.wait_for_function(
        "([sel, oldText, oldSrc]) => { const c = document.querySelector(sel);"
        " const f = document.querySelector('.iov-figure');"
        " return c !== null && c.innerText !== oldText && f.getAttribute('src') !== oldSrc; }",
        arg=[cell, old_text, old_src], timeout=UPDATE_TIMEOUT_S * 1000)
    return time.monotonic() - t0


def test_slider_drag_updates_displayed_throughput(voila_url, tmp_path, record_property):
    from playwright.sync_api import sync_playwright

    name, cost = "virtio-blk", "wakeup_us"
    host0 = iov.HostProfile.default()
    w = iov.Workload.closed(jobs=4, iodepth=32)  # the notebook's starting point
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS, timeout=60_000)
        context = browser.new_context(viewport={"width": 1400, "height": 1300})
        try:
            page = context.new_page()
            page.set_default_timeout(UPDATE_TIMEOUT_S * 1000)
            t_goto = time.monotonic()
            page.goto(voila_url, timeout=SERVE_TIMEOUT_S * 1000, wait_until="domcontentloaded")
            cell = f"#iov-table td.iov-throughput[data-path='{name}']"
            page.wait_for_selector(cell, timeout=SERVE_TIMEOUT_S * 1000)
            # first paint: from the request to the explorer's table on screen (Voila starts
            # the kernel and runs the notebook's cells meanwhile)
            first_paint_s = time.monotonic() - t_goto

            # the page starts at the default profile: what it shows is analyze's answer
            r0 = iov.analyze(name, host0, w)
            before = _cell_text(page, "iov-throughput", name)
            assert before == _fmt(r0.throughput_per_s)
            img0 = page.locator(".iov-figure").get_attribute("src")

            # drag the wake-up cost's slider handle to the right, like a person would
            handle = page.locator(f".iov-cost-{cost} .noUi-handle")
            handle.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "before.png"), full_page=True)
            box = handle.bounding_box()
            assert box is not None, "the slider handle is not visible"
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + 40, y, steps=8)
            page.mouse.move(x + 80, y, steps=8)
            t_release = time.monotonic()
            page.mouse.up()

            readout = page.locator(f".iov-cost-{cost} .widget-readout")
            page.wait_for_function(
                "([sel, old]) => document.querySelector(sel).innerText.trim() !== old",
                arg=[f".iov-cost-{cost} .widget-readout", f"{host0[cost]:.3g}"])
            value = float(readout.inner_text().strip())
            assert value > host0[cost]
            expected = iov.analyze(name, host0.replace(**{cost: value}), w)
            want = _fmt(expected.throughput_per_s)
            assert want != before, "the drag did not move the model enough to test anything"
            try:
                page.wait_for_function(
                    "([sel, want]) => { const c = document.querySelector(sel);"
                    " return c !== null && c.innerText.trim() === want; }",
                    arg=[cell, want], timeout=UPDATE_TIMEOUT_S * 1000)
            finally:
                # the figure and the table at the top of the picture (Voila scrolls a panel)
                page.locator(".iov-explorer").evaluate("e => e.scrollIntoView({block: 'start'})")
                page.screenshot(path=str(shots / "after.png"), full_page=True)
            t_table = time.monotonic() - t_release
            page.wait_for_function(
                "([sel, old]) => document.querySelector(sel).getAttribute('src') !== old",
                arg=[".iov-figure", img0])
            t_figure = time.monotonic() - t_release

            # the exact number behind the display is analyze's, for every selected path
            shown = float(page.locator(cell).get_attribute("data-value"))
            assert shown == pytest.approx(expected.throughput_per_s, rel=1e-9)
            for other in ("virtio-blk-iothread", "vhost-scsi"):
                r = iov.analyze(other, host0.replace(**{cost: value}), w)
                assert _cell_text(page, "iov-throughput", other) == _fmt(r.throughput_per_s)
            assert page.locator(".iov-errors").is_hidden()
            kernel_ms = page.locator("#iov-update-ms").inner_text()

            # more drags, left and right: release -> table and figure both updated, each time
            drags_ms = [round(1e3 * max(t_table, t_figure))]
            for dx in (-30, 30, -30, 30, -30, 30):
                drags_ms.append(round(1e3 * _drag_and_wait(page, handle, dx, cell)))

            # the Monte Carlo button: progress bar to the end, one row per path with its CI,
            # and the same numbers iov.simulate gives here for the same seed (reproducible)
            page.locator("button.iov-simulate").click()
            page.wait_for_function(
                "() => document.querySelectorAll('#iov-sim-table tr.iov-sim-row').length === 3",
                timeout=SIM_TIMEOUT_S * 1000)
            bar = page.locator(".iov-sim-progress .progress-bar").get_attribute("style") or ""
            assert "100%" in bar.replace(" ", ""), bar
            sim_cell = page.locator(f"td.iov-sim-throughput[data-path='{name}']")
            ci_text = sim_cell.locator("xpath=following-sibling::td[1]").inner_text()
            assert ci_text.startswith("[") and "," in ci_text
            s = iov.simulate(name, host0.replace(**{cost: value}), w, requests=20_000,
                             replications=4, seed=1, progress=False)
            assert float(sim_cell.get_attribute("data-value")) == pytest.approx(
                s.throughput_per_s, rel=1e-12)
            page.locator(".iov-sim-table").scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "simulated.png"), full_page=True)
            timing = {"slider": cost, "new_value": value, "before": before, "after": want,
                      "first_paint_s": round(first_paint_s, 2),
                      "release_to_table_ms": round(t_table * 1e3),
                      "release_to_figure_ms": round(t_figure * 1e3),
                      "release_to_both_ms": drags_ms,
                      "release_to_both_median_ms": float(np.median(drags_ms)),
                      "kernel_update_ms": float(kernel_ms), "screenshots": str(shots)}
            record_property("explorer_browser_timing", json.dumps(timing))
            print("explorer in Chromium:", json.dumps(timing))
            keep = os.environ.get("IOV_SCREENSHOT_DIR")
            if keep:  # let a person look at the pictures after the run
                for f in shots.iterdir():
                    shutil.copy(f, Path(keep) / f"explorer_{f.name}")
        finally:
            context.close()
            browser.close()
