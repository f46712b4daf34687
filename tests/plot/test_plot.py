"""Figures of iovmodel.plot: content (one line/bar per path, units in the labels, the
numbers drawn are the model's), the paper style, and reproducible, atomic saving."""

from __future__ import annotations

import math
import os

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

import iovmodel as iov
from iovmodel import plot
from iovmodel.errors import ParameterError

BLK = ["virtio-blk", "virtio-blk-iothread", "vhost-scsi"]
NET = ["emulated-e1000", "virtio-net", "vhost-net"]


def data_lines(ax) -> list[Line2D]:
    """Lines with a legend label (the per-path curves, not bounds or guides)."""
    return [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def closed_sweeps(names, knob="iodepth", values=(1, 2, 4, 8, 16, 32, 64)) -> pd.DataFrame:
    """What a caller passes to throughput_vs_load: one sweep per path, concatenated."""
    return pd.concat([iov.sweep(n, **{knob: list(values)}) for n in names], ignore_index=True)


def open_sweep(path, rates) -> pd.DataFrame:
    with pytest.warns(iov.UnstableQueueWarning) if max(rates) * 10e-6 >= 1 else _nothing():
        return iov.sweep(path, None, iov.Workload.open(rates[0]), nan_policy="nan",
                         rate_per_s=list(rates))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def bars_by_row(ax) -> dict[float, list[Rectangle]]:
    rows: dict[float, list[Rectangle]] = {}
    for p in ax.patches:
        if isinstance(p, Rectangle) and p.get_width() > 0:
            rows.setdefault(round(p.get_y() + p.get_height() / 2, 6), []).append(p)
    return rows


# -- style ------------------------------------------------------------------------------------

def test_palette_is_okabe_ito():
    # Okabe & Ito (2008), "Color Universal Design (CUD)", the eight-colour set.
    okabe_ito = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00",
                 "#CC79A7"}
    assert set(plot.PALETTE) == okabe_ito
    assert len(plot.PALETTE) == 8


@pytest.mark.parametrize("kind, width", [("single", 3.5), ("double", 7.16)])
def test_style_is_a_context_not_global(kind, width):
    before = dict(mpl.rcParams)
    with plot.style(kind) as rc:
        assert mpl.rcParams["figure.figsize"][0] == pytest.approx(width)
        assert mpl.rcParams["pdf.fonttype"] == 42
        assert mpl.rcParams["ps.fonttype"] == 42
        cyc = [c["color"].upper() for c in mpl.rcParams["axes.prop_cycle"]]
        assert cyc == [c.upper() for c in plot.PALETTE]
        assert rc["figure.figsize"][0] == pytest.approx(width)
    after = dict(mpl.rcParams)
    assert {k: v for k, v in after.items() if before.get(k) != v} == {}


def test_style_rejects_unknown_kind():
    with pytest.raises(ParameterError, match="kind"):
        with plot.style("triple"):
            pass


def test_figure_has_column_width():
    fig, axes = plot.figure("double", ncols=2)
    assert fig.get_size_inches()[0] == pytest.approx(7.16)
    assert len(axes) == 2


def test_colors_are_stable_by_order():
    a = plot.colors(["x", "y", "x", "z"])
    assert list(a) == ["x", "y", "z"]
    assert a == plot.colors(["x", "y", "z"])
    assert len(set(a.values())) == 3


# -- throughput vs load -----------------------------------------------------------------------

def test_throughput_vs_load_one_line_per_path_below_the_bound():
    values = [1, 2, 4, 8, 16, 32, 64]
    with plot.style("single"):
        ax = plot.throughput_vs_load(closed_sweeps(BLK, values=values))
    lines = data_lines(ax)
    assert [ln.get_label() for ln in lines] == BLK
    assert "kIO/s" in ax.get_ylabel()
    assert "iodepth" in ax.get_xlabel()
    assert ax.get_xscale() == "log"
    # every dashed horizontal line is one path's saturation bound X <= c / D_max
    # (Lazowska et al. 1984, sec. 5.2); the curve never crosses it and approaches it.
    bounds = {ln.get_color(): ln.get_ydata()[0] for ln in ax.get_lines()
              if ln.get_label().startswith("_") and len(set(ln.get_ydata())) == 1}
    for ln, name in zip(lines, BLK, strict=True):
        r = iov.analyze(name, workload=iov.Workload.closed(1, 64))
        sat = bounds[ln.get_color()]
        assert sat == pytest.approx(r.saturation_per_s / 1e3)
        y = np.asarray(ln.get_ydata(), float)
        assert np.all(y <= sat * (1 + 1e-9))
        assert np.all(np.diff(y) >= -1e-9)  # throughput never falls as load grows (MVA)
        assert y[-1] == pytest.approx(r.throughput_per_s / 1e3)
        assert list(ln.get_xdata()) == values


def test_throughput_vs_load_light_load_bound_is_n_over_d():
    with plot.style("single"):
        ax = plot.throughput_vs_load(closed_sweeps(["virtio-blk"], values=[1, 2, 4]),
                                     bounds="both")
    dotted = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert len(dotted) == 1
    d = iov.analyze("virtio-blk").zero_load_latency_us
    # N / (D + Z) with Z = 0 (Lazowska et al. 1984, eq. 5.2)
    assert np.allclose(dotted[0].get_ydata(), np.array([1, 2, 4]) * 1e6 / d / 1e3)
    # at N = 1 the exact MVA throughput equals the light-load bound
    assert data_lines(ax)[0].get_ydata()[0] == pytest.approx(1e3 / d)


def test_throughput_vs_load_by_jobs_and_population():
    df = closed_sweeps(NET, knob="jobs", values=[1, 2, 4, 8])
    ax1 = plot.throughput_vs_load(df, knob="jobs")
    ax2 = plot.throughput_vs_load(df, knob="population")  # jobs x iodepth, iodepth = 1
    for a, b, name in zip(data_lines(ax1), data_lines(ax2), NET, strict=True):
        assert a.get_label() == b.get_label() == name
        assert np.allclose(a.get_ydata(), b.get_ydata())
        assert np.allclose(a.get_xdata(), [1, 2, 4, 8])
    assert ax1.get_xlabel() == "jobs"


def test_throughput_vs_load_rejects_bad_input():
    df = closed_sweeps(["virtio-blk"], values=[1, 2])
    with pytest.raises(ParameterError, match="knob"):
        plot.throughput_vs_load(df, knob="threads")
    with pytest.raises(ParameterError, match="bounds"):
        plot.throughput_vs_load(df, bounds="all")
    with pytest.raises(ParameterError, match="empty"):
        plot.throughput_vs_load(df.iloc[:0])
    with pytest.raises(ParameterError, match="throughput_per_s"):
        plot.throughput_vs_load(pd.DataFrame({"path": ["a"], "iodepth": [1]}))
    # plots draw results, they do not solve: path names are refused, saying what to pass
    with pytest.raises(ParameterError, match="iov.sweep"):
        plot.throughput_vs_load(BLK)


# -- latency vs load --------------------------------------------------------------------------

def test_latency_vs_load_rises_towards_saturation():
    rates = {n: np.linspace(0.02, 0.95, 12) * iov.analyze(n).saturation_per_s for n in NET}
    df = pd.concat([iov.sweep(n, None, iov.Workload.open(r[0]), rate_per_s=list(r))
                    for n, r in rates.items()])
    with plot.style("single"):
        ax = plot.latency_vs_load(df)
    lines = data_lines(ax)
    assert [ln.get_label() for ln in lines] == NET
    assert "µs" in ax.get_ylabel() and "kIO/s" in ax.get_xlabel()
    vlines = [ln for ln in ax.get_lines() if ln.get_label().startswith("_")]
    assert len(vlines) == len(NET)
    for ln, v, name in zip(lines, vlines, NET, strict=True):
        x, y = np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)
        zero = iov.analyze(name).zero_load_latency_us
        assert np.all(np.diff(y) > 0)  # queueing delay grows with utilisation
        assert y[0] >= zero - 1e-9  # waiting is never negative
        assert np.all(x < v.get_xdata()[0])  # only stable loads are drawn


def test_latency_vs_load_matches_pollaczek_khinchine_single_station():
    # One exponential station of mean 10 µs: M/M/1 W = S / (1 - rho) (Kleinrock 1975, eq. 3.26).
    p = iov.Path.from_hops("one", [iov.Hop("serve", resource="disk", cost=10.0)],
                           servers={"disk": 1})
    rates = [10_000.0, 50_000.0, 90_000.0]
    ax = plot.latency_vs_load(open_sweep(p, rates))
    y = data_lines(ax)[0].get_ydata()
    expect = [10.0 / (1 - r * 10e-6) for r in rates]
    assert np.allclose(y, expect, rtol=1e-9)


def test_latency_vs_load_skips_unstable_rates():
    p = iov.Path.from_hops("one", [iov.Hop("serve", resource="disk", cost=10.0)],
                           servers={"disk": 1})
    ax = plot.latency_vs_load(open_sweep(p, [50_000.0, 150_000.0]))
    assert len(data_lines(ax)[0].get_xdata()) == 1


def test_latency_vs_load_from_frame():
    df = pd.DataFrame({"path": ["a", "a", "b"], "rate_per_s": [1e3, 2e3, 1e3],
                       "latency_us": [10.0, 12.0, 5.0]})
    ax = plot.latency_vs_load(df)
    assert [ln.get_label() for ln in data_lines(ax)] == ["a", "b"]
    with pytest.raises(ParameterError, match="iov.sweep"):
        plot.latency_vs_load(NET)


# -- breakdown --------------------------------------------------------------------------------

@pytest.mark.parametrize("by", ["hop", "resource"])
def test_breakdown_one_bar_per_path_summing_to_latency(by):
    w = iov.Workload.closed(jobs=2, iodepth=8)
    results = [iov.analyze(p, workload=w) for p in BLK]
    with plot.style("double"):
        ax = plot.breakdown(results, by=by)
    rows = bars_by_row(ax)
    assert len(rows) == len(BLK)
    assert [t.get_text() for t in ax.get_yticklabels()] == BLK
    assert "µs" in ax.get_xlabel()
    # Bars are drawn top-down in the order given; the segments add up to the mean latency.
    for (_, patches), r in zip(sorted(rows.items(), reverse=True), results, strict=True):
        assert sum(p.get_width() for p in patches) == pytest.approx(r.latency_us, rel=1e-9)
        right = max(p.get_x() + p.get_width() for p in patches)
        assert right == pytest.approx(r.latency_us, rel=1e-9)


def test_breakdown_by_hop_has_a_segment_per_busy_hop_and_hatched_queueing():
    r = iov.analyze("virtio-blk", workload=iov.Workload.closed(1, 16))
    ax = plot.breakdown([r])
    served = [p for p in ax.patches if p.get_gid().startswith("service:")]
    waited = [p for p in ax.patches if p.get_gid().startswith("wait:")]
    assert all(p.get_hatch() == "////" for p in waited)
    assert not any(p.get_hatch() for p in served)
    bd = r.breakdown
    assert len(served) == int((bd["service_us"] > 0).sum())
    assert len(waited) == int((bd["wait_us"] > 0).sum())
    assert sum(p.get_width() for p in waited) == pytest.approx(bd["wait_us"].sum())
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "queueing" in labels and "bql" in labels


def test_result_plot_is_breakdown():
    ax = iov.analyze("vhost-net").plot()
    assert len(bars_by_row(ax)) == 1
    assert [t.get_text() for t in ax.get_yticklabels()] == ["vhost-net"]


def test_breakdown_takes_results_and_labels():
    rs = [iov.analyze(n, workload=iov.Workload.closed(1, 1)) for n in NET]
    ax = plot.breakdown(rs, labels=["e", "v", "h"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["e", "v", "h"]
    with pytest.raises(ParameterError, match="labels"):
        plot.breakdown(rs, labels=["x"])
    with pytest.raises(ParameterError, match="by"):
        plot.breakdown(rs, by="switch")
    with pytest.raises(ParameterError, match="do not solve"):
        plot.breakdown(NET)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(["emulated-ide", "virtio-scsi", "vhost-user-blk", "xen-netfront",
                             "vfio-nvme"]),
       jobs=st.integers(1, 4), iodepth=st.integers(1, 16), batch=st.sampled_from([1, 2, 4]))
def test_breakdown_total_is_latency_law(name, jobs, iodepth, batch):
    assume(batch <= jobs * iodepth)  # a larger batch can never fill (the Workload refuses it)
    r = iov.analyze(name, workload=iov.Workload.closed(jobs, iodepth, batch=batch))
    ax = plot.breakdown([r])
    total = sum(p.get_width() for p in ax.patches if isinstance(p, Rectangle))
    assert total == pytest.approx(r.latency_us, rel=1e-9)
    mpl.pyplot.close(ax.figure)


# -- mode switches ----------------------------------------------------------------------------

def test_mode_switches_one_bar_per_path_totals():
    names = ["emulated-e1000", "virtio-net", "vhost-net", "vfio-net", "native-net"]
    ax = plot.mode_switches(names)
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert "per I/O" in ax.get_xlabel()
    rows = bars_by_row(ax)
    for name, (_, patches) in zip(names, sorted(rows.items(), reverse=True), strict=False):
        expect = float(iov.path(name).mode_switches().sum(axis=1).iloc[0])
        assert sum(p.get_width() for p in patches) == pytest.approx(expect)
    # the native path makes no switch at all: no visible bar
    assert len(rows) == len(names) - 1


def test_mode_switches_batching_divides_per_batch_switches():
    # virtio kicks once per batch (DESIGN: one kick per batch), so a batch of 4
    # makes the per-batch VM exit count 1/4 per I/O.
    ax1 = plot.mode_switches(["virtio-blk"], batch=1)
    ax4 = plot.mode_switches(["virtio-blk"], batch=4)
    vm1 = ax1.patches[0].get_width()
    vm4 = ax4.patches[0].get_width()
    assert vm4 == pytest.approx(vm1 / 4)


def test_mode_switches_from_catalog_frame():
    cat = iov.paths()
    ax = plot.mode_switches(cat)
    assert len(ax.get_yticklabels()) == len(cat)
    with pytest.raises(ParameterError, match="switch columns"):
        plot.mode_switches(pd.DataFrame({"path": ["a"], "x": [1]}))
    with pytest.raises(ParameterError, match="batch"):
        plot.mode_switches(["virtio-blk"], batch=0)


# -- measured vs predicted --------------------------------------------------------------------

def _residuals(seed: int = 3, n: int = 24) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    measured = rng.uniform(1e3, 1e5, n)
    err = rng.uniform(-0.3, 0.3, n)
    return pd.DataFrame({"measured": measured, "predicted": measured * (1 + err),
                         "rel_error": err, "path": rng.choice(["virtio-blk", "vhost-net"], n),
                         "metric": rng.choice(["iops", "latency_us"], n)})


def test_measured_vs_predicted_points_and_residual_panel():
    df = _residuals()
    with plot.style("single"):
        ax = plot.measured_vs_predicted(df)
    fig = ax.figure
    assert len(fig.axes) == 2
    rax = fig.axes[1]
    pts = np.vstack([c.get_offsets() for c in ax.collections if len(c.get_offsets())
                     and c.get_offsets().shape[1] == 2 and c.get_label() != "_nolegend_"
                     and hasattr(c, "get_sizes") and len(c.get_sizes())])
    assert len(pts) == len(df)
    got = {round(m, 6): p for m, p in pts}
    for m, p in zip(df["measured"], df["predicted"], strict=True):
        assert got[round(m, 6)] == pytest.approx(p)
    res = np.vstack([c.get_offsets() for c in rax.collections if len(c.get_sizes())])
    rgot = {round(m, 6): e for m, e in res}
    for m, e in zip(df["measured"], df["rel_error"], strict=True):
        assert rgot[round(m, 6)] == pytest.approx(100 * e)
    assert "%" in rax.get_ylabel()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    text = " ".join(t.get_text() for t in ax.texts)
    med = 100 * np.median(np.abs(df["rel_error"]))
    assert f"median |error| {med:.0f} %" in text


def test_measured_vs_predicted_takes_a_fit_result_and_an_ax():
    class FakeFit:  # the FitResult contract: .residuals with measured, predicted, ...
        residuals = _residuals().drop(columns=["rel_error"])

    fig, ax = plot.figure("single")
    out = plot.measured_vs_predicted(FakeFit(), ax=ax, metric="iops")
    assert out is ax
    assert len(fig.axes) == 2  # residual panel appended below the given axes
    n = sum(len(c.get_offsets()) for c in ax.collections if len(c.get_sizes()))
    assert n == int((FakeFit.residuals["metric"] == "iops").sum())


def test_measured_vs_predicted_rejects_bad_input():
    with pytest.raises(ParameterError, match="predicted"):
        plot.measured_vs_predicted(pd.DataFrame({"measured": [1.0]}))
    with pytest.raises(ParameterError, match="metric"):
        plot.measured_vs_predicted(_residuals(), metric="exits_per_io")
    with pytest.raises(ParameterError, match="FitResult"):
        plot.measured_vs_predicted([1, 2, 3])


# -- latency distribution ---------------------------------------------------------------------

def test_latency_distribution_of_samples_marks_percentiles_and_means():
    # Exponential latencies of mean 50 µs: median 50 ln 2, p99 50 ln 100 (any textbook,
    # e.g. Ross, Introduction to Probability Models, sec. 5.2).
    x = np.random.default_rng(7).exponential(50.0, 40_000)
    ax = plot.latency_distribution(x, analytic=50.0)
    assert "µs" in ax.get_xlabel()
    curve = ax.get_lines()[0]
    assert curve.get_ydata()[-1] == pytest.approx(1.0)
    pts = next(ln for ln in ax.get_lines() if ln.get_label() == "percentiles")
    px = dict(zip(np.asarray(pts.get_ydata()) * 100, pts.get_xdata(), strict=True))
    assert px[50.0] == pytest.approx(50 * math.log(2), rel=0.03)
    assert px[99.0] == pytest.approx(50 * math.log(100), rel=0.05)
    means = {ln.get_label().split(" mean")[0]: ln.get_xdata()[0] for ln in ax.get_lines()
             if " mean" in ln.get_label()}
    assert means["analytic"] == pytest.approx(50.0)
    assert means["simulated"] == pytest.approx(x.mean())


def test_latency_distribution_from_a_histogram_result():
    edges = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    counts = np.array([0, 5, 3, 2])

    class FakeSim:  # the SimResult contract: histogram, percentiles_us, latency_us, path
        histogram = (counts, edges)
        percentiles_us = {"p50": 3.0, "p90": 10.0, "p99": 15.0, "p99.9": 15.9}
        latency_us = 5.0
        path = "virtio-blk"

    ax = plot.latency_distribution(FakeSim(), analytic=iov.analyze("virtio-blk"), ccdf=False)
    curve = ax.get_lines()[0]
    assert curve.get_label() == "virtio-blk"
    # CDF at the upper edges of the non-empty bins: 5/10, 8/10, 10/10
    assert list(curve.get_xdata()) == [4.0, 8.0, 16.0]
    assert np.allclose(curve.get_ydata(), [0.5, 0.8, 1.0])
    pts = next(ln for ln in ax.get_lines() if ln.get_label() == "percentiles")
    assert list(pts.get_xdata()) == [3.0, 10.0, 15.0, 15.9]
    ax2 = plot.latency_distribution(FakeSim(), ccdf=True)
    assert ax2.get_yscale() == "log"
    assert np.allclose(ax2.get_lines()[0].get_ydata(), [0.5, 0.2])


def test_latency_distribution_rejects_bad_input():
    with pytest.raises(ParameterError, match="samples"):
        plot.latency_distribution(np.array([]))
    with pytest.raises(ParameterError, match=">= 0"):
        plot.latency_distribution(np.array([1.0, -2.0]))
    with pytest.raises(ParameterError, match="SimResult"):
        plot.latency_distribution(object())
    with pytest.raises(ParameterError, match="analytic"):
        plot.latency_distribution(np.array([1.0, 2.0]), analytic=math.nan)


# -- saving -----------------------------------------------------------------------------------

def _build(path, fmt):
    with plot.style("single"):
        ax = plot.throughput_vs_load(closed_sweeps(BLK, values=[1, 4, 16]))
        out = plot.save(ax.figure, path / f"f.{fmt}")
    mpl.pyplot.close(ax.figure)
    return out.read_bytes()


@pytest.mark.parametrize("fmt", ["pdf", "svg", "eps", "png"])
def test_two_builds_are_byte_identical(tmp_path, fmt):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = _build(tmp_path / "a", fmt), _build(tmp_path / "b", fmt)
    assert len(a) > 1000
    assert a == b


def test_pdf_has_type42_fonts_and_no_date(tmp_path):
    data = _build(tmp_path, "pdf")
    assert b"/FontFile2" in data  # embedded TrueType = Type 42
    assert b"/Type3" not in data
    assert b"/CreationDate" not in data


def test_save_never_overwrites_unless_asked(tmp_path):
    target = tmp_path / "fig.pdf"
    target.write_bytes(b"user's file")
    ax = plot.mode_switches(["virtio-blk"])
    with pytest.raises(FileExistsError, match="overwrite=True"):
        plot.save(ax.figure, target)
    assert target.read_bytes() == b"user's file"
    plot.save(ax, target, overwrite=True)  # an Axes is accepted too
    assert target.read_bytes().startswith(b"%PDF")
    assert sorted(os.listdir(tmp_path)) == ["fig.pdf"]  # no temporary file left behind


def test_save_rejects_unknown_format(tmp_path):
    ax = plot.mode_switches(["virtio-blk"])
    with pytest.raises(ParameterError, match="format"):
        plot.save(ax.figure, tmp_path / "fig.docx")
    with pytest.raises(ParameterError, match="fig"):
        plot.save("not a figure", tmp_path / "fig.pdf")
    assert os.listdir(tmp_path) == []


def test_measured_vs_predicted_log_axes_skip_non_positive_rows_but_count_them():
    df = _residuals(n=12)
    df.loc[0, "predicted"] = 0.0  # e.g. a path the model gives no exits at all
    df.loc[0, "rel_error"] = -1.0
    ax = plot.measured_vs_predicted(df)
    assert ax.get_xscale() == "log"
    n = sum(len(c.get_offsets()) for c in ax.collections if len(c.get_sizes()))
    assert n == len(df) - 1
    text = " ".join(t.get_text() for t in ax.texts)
    assert "n = 12" in text and "1 value(s) <= 0 not drawn" in text
    assert "max 100 %" in text  # the hidden row still counts in the stated error


def test_measured_vs_predicted_into_given_residual_axes():
    fig, (ax, rax) = plot.figure("single", nrows=2)
    plot.measured_vs_predicted(_residuals(), ax=ax, residual_ax=rax)
    assert len(fig.axes) == 2
    assert rax.get_xscale() == "log" and rax.get_xlim() == ax.get_xlim()


def test_latency_distribution_of_a_simulated_mm1_queue():
    # One exponential server, mean 10 µs, Poisson arrivals at 50 000/s: M/M/1 with rho = 0.5.
    # The sojourn time is exponential with mean 1 / (mu - lambda) = 20 µs (Kleinrock 1975,
    # vol. 1, eq. 3.28), so its median is 20 ln 2 and its 99th percentile 20 ln 100.
    from iovmodel import sim

    p = iov.Path.from_hops("mm1", [iov.Hop("serve", resource="disk", cost=10.0)],
                           servers={"disk": 1})
    w = iov.Workload.open(50_000.0)
    s = sim.simulate(p, workload=w, requests=20_000, replications=4, seed=11, progress=False)
    ax = plot.latency_distribution(s, analytic=iov.analyze(p, workload=w))
    means = {ln.get_label().split(" mean")[0]: ln.get_xdata()[0] for ln in ax.get_lines()
             if " mean" in ln.get_label()}
    assert means["analytic"] == pytest.approx(20.0)
    assert means["simulated"] == pytest.approx(s.latency_us)
    curve = ax.get_lines()[0]
    x, F = np.asarray(curve.get_xdata()), np.asarray(curve.get_ydata())
    assert F[-1] == pytest.approx(1.0) and np.all(np.diff(F) >= 0)
    # the empirical CDF against the exponential CDF 1 - exp(-x / 20) on the log grid
    inside = (x > 2) & (x < 100)
    assert np.max(np.abs(F[inside] - (1 - np.exp(-x[inside] / 20.0)))) < 0.03
    pts = next(ln for ln in ax.get_lines() if ln.get_label() == "percentiles")
    px = dict(zip(np.round(np.asarray(pts.get_ydata()) * 100, 1), pts.get_xdata(), strict=True))
    assert px[50.0] == pytest.approx(20 * math.log(2), rel=0.06)
    assert px[99.0] == pytest.approx(20 * math.log(100), rel=0.08)


def test_resource_styles_never_repeat_within_a_figure():
    from iovmodel.plot.palette import WAIT_HATCH

    catalog = ["vcpu", "bql", "iothread", "vhost", "backend", "xenback", "host", "device",
               "devbus", "wire", "poll", "vmm", "vmm_worker", "backend_thread"]
    made_up = [f"r{i}" for i in range(30)]  # beyond both palettes: hatches tell them apart
    looks = plot.resource_styles(catalog + made_up)
    assert len(set(looks.values())) == len(catalog) + len(made_up)
    assert all(lk.hatch != WAIT_HATCH for lk in looks.values())
    # the first eight catalog resources take the Okabe-Ito colours, unhatched
    assert [looks[r].color for r in catalog[:8]] == list(plot.PALETTE)
    # a catalog resource keeps its look whatever else the figure holds
    assert plot.resource_styles(["poll"])["poll"] == looks["poll"]
    assert plot.resource_styles(["poll", "vcpu"])["poll"] != looks["vcpu"]
    # an unknown resource takes a look no other resource of that figure has
    few = plot.resource_styles(["vcpu", "mystery"])
    assert few["mystery"] != few["vcpu"]
