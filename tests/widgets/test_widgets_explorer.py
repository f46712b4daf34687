"""The explorer driven from Python: set controls, read the displayed table.

What the table shows must be what ``iov.analyze`` gives for the setting the
controls describe (the explorer is a view of the model, not a second model),
and obey the asymptotic bounds of operational analysis (Lazowska, Zahorjan,
Graham, Sevcik, *Quantitative System Performance*, 1984, ch. 5:
X(N) <= min(N / (D + Z), 1 / D_max)).
"""

from __future__ import annotations

import math

import ipywidgets as W
import numpy as np
import pytest
from _table import cells, displayed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iovmodel as iov
from iovmodel.errors import ParameterError
from iovmodel.network import build
from iovmodel.spec.profile import parameters
from iovmodel.widgets import Explorer, cost_slider
from iovmodel.widgets import app as explorer_module
from iovmodel.widgets.controls import _slider_range
from iovmodel.widgets.views import fmt as _fmt

PATHS = ("virtio-blk", "virtio-blk-iothread", "vhost-scsi")


@pytest.fixture(scope="module")
def app() -> Explorer:
    return iov.explorer(list(PATHS))


def _check_table(app: Explorer, host, workload, paths=PATHS, options=None) -> None:
    shown = displayed(app.table.value, "iov-throughput")
    lat = displayed(app.table.value, "iov-latency")
    assert set(shown) == set(paths)
    for name in paths:
        r = iov.analyze(name, host, workload, **(options or {}).get(name, {}))
        value, text = shown[name]
        assert value == pytest.approx(r.throughput_per_s, rel=1e-12)
        assert text == _fmt(r.throughput_per_s)  # what a person reads is the same number
        assert lat[name][0] == pytest.approx(r.latency_us, rel=1e-12)


def test_default_table_is_analyze_at_the_default_point():
    app = iov.explorer(list(PATHS))
    assert app.workload == iov.Workload.closed(jobs=4, iodepth=32)
    assert app.host == iov.HostProfile.default()
    _check_table(app, iov.HostProfile.default(), app.workload)
    assert app.last_error is None
    assert len(app.figure.value) > 1000 and app.figure.value[:8] == b"\x89PNG\r\n\x1a\n"


def test_cost_slider_moves_the_table_to_analyze_of_the_new_host(app):
    s = app.cost_sliders["wakeup_us"]
    before = displayed(app.table.value, "iov-throughput")["virtio-blk"][0]
    old_png = app.figure.value
    n = len(app.update_times_ms)
    s.value = 6.0
    host = iov.HostProfile.default().replace(wakeup_us=6.0)
    _check_table(app, host, app.workload)
    after = displayed(app.table.value, "iov-throughput")["virtio-blk"][0]
    # the main loop wakes up twice per I/O under the mutex: dearer wake-ups, fewer IOPS
    assert after < before
    assert app.figure.value != old_png  # the figure was redrawn
    assert len(app.update_times_ms) == n + 1
    assert math.isfinite(app.last_update_ms) and app.last_update_ms > 0
    s.value = iov.parameters()["wakeup_us"].value


def test_workload_controls(app):
    with app.hold():
        app.jobs.value = 2
        app.iodepth.value = 8
        app.size.value = 65536
        app.batch.value = 4
    w = iov.Workload.closed(jobs=2, iodepth=8, size_bytes=65536, batch=4)
    assert app.workload == w
    _check_table(app, app.host, w)
    with app.hold():
        app.jobs.value, app.iodepth.value, app.size.value, app.batch.value = 4, 32, 4096, 1


def test_hold_makes_one_update(app):
    n = len(app.update_times_ms)
    with app.hold():
        app.cost_sliders["vmexit_us"].value = 1.0
        app.cost_sliders["syscall_us"].value = 1.0
        app.jobs.value = 8
    assert len(app.update_times_ms) == n + 1
    _check_table(app, iov.HostProfile.default().replace(vmexit_us=1.0, syscall_us=1.0),
                 iov.Workload.closed(jobs=8, iodepth=32))
    app.reset_button.click()
    assert app.host == iov.HostProfile.default()
    app.jobs.value = 4


def test_open_mode_shows_rate_and_unstable_paths():
    app = iov.explorer(list(PATHS))
    app.mode.value = "open"
    assert app.rate.layout.display is None and app.jobs.layout.display == "none"
    app.rate.value = 5e4
    w = iov.Workload.open(5e4)
    assert app.workload == w
    _check_table(app, app.host, w)
    # beyond virtio-blk's mutex capacity but below the iothread path's
    sat = {n: app.results[n].saturation_per_s for n in PATHS}
    rate = 0.5 * (sat["virtio-blk"] + sat["virtio-blk-iothread"])
    app.rate.value = rate
    assert isinstance(app.results["virtio-blk"], str)
    row = [c for c in cells(app.table.value) if c["path"] == "virtio-blk"]
    assert "bql" in row[-1]["text"] and "exceeds its capacity" in row[-1]["text"]
    assert app.last_error is None  # an unstable point is an answer, not an error
    shown = displayed(app.table.value, "iov-throughput")
    r = iov.analyze("virtio-blk-iothread", app.host, iov.Workload.open(app.rate.value))
    assert shown["virtio-blk-iothread"][0] == pytest.approx(r.throughput_per_s, rel=1e-12)


def test_parallel_option_reaches_the_paths_that_have_it():
    app = iov.explorer(["vhost-scsi", "virtio-blk"])
    app.parallel.value = 4
    opts = {"vhost-scsi": {"workers": 4}}
    _check_table(app, app.host, app.workload, paths=("vhost-scsi", "virtio-blk"), options=opts)
    # one vCPU (the default guest) uses one virtqueue: a second worker has nothing to serve
    one = iov.analyze("vhost-scsi", app.host, app.workload)
    assert app.results["vhost-scsi"].throughput_per_s == pytest.approx(one.throughput_per_s)
    app.vcpus.value = 4  # four vCPUs, four queues in use: the workers now share the load
    opts = {"vhost-scsi": {"workers": 4, "vcpus": 4}, "virtio-blk": {"vcpus": 4}}
    _check_table(app, app.host, app.workload, paths=("vhost-scsi", "virtio-blk"), options=opts)
    one = iov.analyze("vhost-scsi", app.host, app.workload, vcpus=4)
    assert app.results["vhost-scsi"].throughput_per_s > one.throughput_per_s


def test_posted_interrupts_checkbox():
    app = iov.explorer(["vfio-nvme"])
    app.posted.value = True
    r = iov.analyze("vfio-nvme", app.host, app.workload, posted_interrupts=True)
    assert displayed(app.table.value, "iov-latency")["vfio-nvme"][0] == pytest.approx(r.latency_us)


def test_selecting_paths(app):
    app.path_select.value = ("emulated-ide", "native-blk")
    _check_table(app, app.host, app.workload, paths=("emulated-ide", "native-blk"))
    app.path_select.value = ()
    assert "select at least one path" in app.table.value and app.last_error is None
    app.path_select.value = PATHS


def test_saturation_column_and_asymptotic_bounds(app):
    """X(N) <= min(N / D, 1 / D_max) (QSP ch. 5); the saturation column is 1 / D_max."""
    w = app.workload
    shown = displayed(app.table.value, "iov-throughput")
    sat = displayed(app.table.value, "iov-saturation")
    for name in PATHS:
        net = build(iov.path(name), app.host, w)
        per_server = [s.demand_us / s.servers for s in net.stations
                      if not math.isinf(s.servers) and s.demand_us > 0]
        d_total = sum(s.demand_us for s in net.stations)
        assert sat[name][0] == pytest.approx(1e6 / max(per_server), rel=1e-12)
        bound = min(w.population / d_total * 1e6, 1e6 / max(per_server))
        assert shown[name][0] <= bound * (1 + 1e-9)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_slider_setting_shows_analyze(app, data):
    name = data.draw(st.sampled_from(sorted(app.cost_sliders)))
    s = app.cost_sliders[name]
    k = data.draw(st.integers(0, int(round((s.max - s.min) / s.step))))
    v = min(s.min + k * s.step, s.max)
    s.value = v
    try:
        host = iov.HostProfile.default().replace(**{name: v})
        assert app.host == host
        _check_table(app, host, app.workload)
    finally:
        s.value = parameters()[name].value


def test_cost_sliders_come_from_the_declarations(app):
    decl = parameters()
    assert set(app.cost_sliders) == set(decl)
    for name, p in decl.items():
        s = app.cost_sliders[name]
        assert isinstance(s, W.FloatSlider)
        assert s.description == name
        assert s.value == p.value
        assert s.min <= min(p.typical[0], p.value) and s.max >= max(p.typical[1], p.value)
        assert p.bounds[0] <= s.min < s.max <= p.bounds[1]
        assert 0 < s.step <= (s.max - s.min) / 20
        assert p.symbol in s.tooltip and p.unit in s.tooltip
        assert f"iov-cost-{name}" in s._dom_classes
        assert s.continuous_update is False


@given(st.sampled_from(sorted(parameters())), st.floats(0.0, 1.0))
def test_slider_range_holds_typical_range_and_default(name, frac):
    p = parameters()[name]
    lo, hi, step = _slider_range(p)
    assert lo <= p.value <= hi
    assert lo <= p.typical[0] or lo == p.bounds[0]
    assert hi >= p.typical[1] or hi == p.bounds[1]
    assert step > 0
    # a calibrated value outside the typical range widens the slider instead of clipping
    v = p.bounds[0] + frac * (min(p.bounds[1], 10 * hi) - p.bounds[0])
    if p.unit == "count":  # counts are whole numbers
        v = float(round(v))
    s = cost_slider(p, v)
    assert s.value == pytest.approx(v) and s.min <= v <= s.max


@pytest.mark.parametrize("w", [iov.Workload.open(500.0), iov.Workload.open(3e7, batch=64),
                               iov.Workload.closed(jobs=100, iodepth=1000, size_bytes=1000)])
def test_any_starting_workload_survives_the_controls(w):
    app = iov.explorer(["native-blk"], workload=w)
    assert app.workload == w  # no control clipped it to its range


def test_starting_host_and_workload_are_honoured():
    host = iov.HostProfile.default().replace(user_exit_us=12.0)
    w = iov.Workload.open(2e3, size_bytes=16384)  # below the one-command ceiling
    app = iov.explorer(["emulated-ide"], host=host, workload=w)
    assert app.mode.value == "open" and app.host == host and app.workload == w
    assert app.cost_sliders["user_exit_us"].value == 12.0
    _check_table(app, host, w, paths=("emulated-ide",))


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ParameterError, match="paths"):
        iov.explorer(["no-such-path"])
    with pytest.raises(ParameterError, match="workload"):
        iov.explorer(workload={"jobs": 4})
    with pytest.raises(ParameterError, match="vmexit_us"):
        iov.explorer(host=iov.HostProfile.default().replace(vmexit_us=-1.0))
    with pytest.raises(ParameterError, match="host"):
        iov.explorer(host="fast")
    with pytest.raises(ParameterError, match="vmexit_us"):  # a mapping is checked, not skipped
        iov.explorer(host={"vmexit_us": -1.0})
    with pytest.raises(ParameterError, match="figure_dpi"):
        iov.explorer(figure_dpi="high")


def test_to_frame_is_the_table():
    app = iov.explorer(["virtio-blk", "native-blk"], workload=iov.Workload.open(2e5))
    df = app.to_frame()
    assert list(df["path"]) == ["virtio-blk", "native-blk"]
    # virtio-blk's mutex cannot carry 200 000 IO/s (nor its one vCPU, less loaded: 1.03 against
    # the mutex's 1.63): NaN metrics and the reason, naming the most loaded
    assert math.isnan(df.loc[0, "throughput_per_s"]) and "bql" in df.loc[0, "message"]
    r = iov.analyze("native-blk", iov.HostProfile.default(), iov.Workload.open(2e5))
    assert df.loc[1, "latency_us"] == pytest.approx(r.latency_us, rel=1e-12)
    assert df.loc[1, "message"] == ""


def test_callback_errors_are_shown_in_the_app(monkeypatch):
    app = iov.explorer(["virtio-blk"])

    def broken(*args, **kwargs):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(explorer_module, "analyze", broken)
    app.cost_sliders["vmexit_us"].value = 0.9  # must not raise out of the callback
    assert app.last_error == "RuntimeError: solver exploded"
    text = "".join(o.get("text", "") for o in app.errors.outputs)
    assert "solver exploded" in text and "Traceback" in text
    assert app.errors.layout.display is None  # the pane is visible
    assert "solver exploded" in app.status.value
    monkeypatch.undo()
    app.clear_errors()
    app.cost_sliders["vmexit_us"].value = 0.8
    assert app.last_error is None and app.errors.layout.display == "none"
    _check_table(app, iov.HostProfile.default().replace(vmexit_us=0.8), app.workload,
                 paths=("virtio-blk",))


def test_simulate_button_disabled_when_simulator_missing(monkeypatch):
    monkeypatch.setattr(explorer_module, "_simulator_missing",
                        lambda: "ModuleNotFoundError: No module named 'numba'")
    app = iov.explorer(["virtio-blk"])
    assert app.sim_button.disabled
    assert "unavailable" in app.sim_table.value and "numba" in app.sim_table.value
    app.sim_button.click()  # nothing happens, nothing raised


def test_simulator_that_fails_to_import_on_click_disables_the_button(monkeypatch):
    monkeypatch.setattr(explorer_module, "_load_simulate", lambda: (None, "ImportError: no numba"))
    app = iov.explorer(["virtio-blk"])
    assert not app.sim_button.disabled  # the simulator is imported on the first click only
    app.sim_button.click()
    assert app.sim_button.disabled
    assert "unavailable" in app.sim_table.value and "no numba" in app.sim_table.value
    assert "no numba" in app.last_error  # shown in the app's error pane, not raised


def test_explorer_construction_does_not_import_the_simulator():
    # the simulator (numba kernels + scipy.stats) takes seconds to import: the page's first paint must not wait for them
    code = ("import sys, iovmodel as iov\n"
            "app = iov.explorer()\n"
            "assert app.results and 'iovmodel.solve.sim' not in sys.modules, sorted(sys.modules)\n"
            "assert 'scipy.stats' not in sys.modules\n")
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow
def test_simulate_button_runs_with_progress_and_ci():
    why = explorer_module._simulator_missing()
    if why:
        pytest.skip(f"the simulator cannot run here: {why}")
    app = iov.explorer(["vhost-scsi", "virtio-blk"])
    app.sim_requests.value = 20_000
    app.sim_replications.value = 3
    app.sim_button.click()
    assert app.last_error is None
    assert app.sim_progress.value == app.sim_progress.max == 2 * 3 * 20_000
    assert not app.sim_button.disabled
    shown = displayed(app.sim_table.value, "iov-sim-throughput")
    for name in ("vhost-scsi", "virtio-blk"):
        s = app.sim_results[name]
        lo, hi = s.latency_ci_us
        assert lo <= s.latency_us <= hi
        assert shown[name][0] == pytest.approx(s.throughput_per_s)
        # same seed, same numbers: the button is reproducible
        again = iov.simulate(name, app.host, app.workload, requests=20_000, replications=3,
                             seed=1, progress=False)
        assert again.latency_us == s.latency_us
    assert "95% CI" in app.sim_table.value


def test_timing_and_repr():
    app = iov.explorer(["virtio-blk"])
    for v in np.linspace(0.4, 1.4, 5):
        app.cost_sliders["vmexit_us"].value = float(v)
    t = app.timing()
    assert t["updates"] == len(app.update_times_ms) >= 6
    assert 0 < t["median_ms"] <= t["max_ms"]
    assert set(app.last_phases_ms) == {"solve_ms", "draw_ms", "render_ms", "total_ms",
                                       "cpu_ms"}
    r = repr(app)
    assert r.startswith("<Explorer: virtio-blk") and len(r) < 200
    assert "iov-update-ms" in app.status.value
