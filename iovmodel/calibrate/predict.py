"""Predict measurement rows: the solver layer's numbers for every row, grouped by network.

Rows that share a path, options and workload shape share one network: one MVA pass
serves all their populations.  The metrics, percentiles, load-dependent batch and
stream bound are :mod:`iovmodel.solve`'s; this module only routes rows to them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from .._expr import compile_expr
from .._expr import scope as _scope
from ..errors import ParameterError, UnstableError
from ..network import Network, Rebuilder, build
from ..solve.analyze import open_load_batched
from ..solve.batching import BATCHING, in_flight, load_batched, resolve
from ..solve.closed import solve_closed
from ..solve.metrics import (
    QUANTILES,
    value,
)
from ..solve.open import solve_open
from ..solve.packets import solve_flood, solve_stream
from ..solve.streams import stream_bound
from ..spec.catalog import Path
from ..spec.profile import HostProfile, as_host, parameters
from ..spec.workload import Workload
from .rows import _parse, _Row


def _value(metric: str, row: _Row, net: Network, X: float, R: float, waits: np.ndarray,
           util: np.ndarray, sim: Any) -> float:
    # host CPU only where a metric reads it: fit evaluates this for every row, many times
    cpu = net.cpu_per_io(X)[0] if metric in ("cpu_us_per_io", "cpu_util_host_pct") else math.nan
    return value(metric, row.path, row.workload, net, X, R, waits, util, cpu, sim)


def _solve_load_batched(p: Path, host: HostProfile, w: Workload, net: Network | None = None,
                        start: float | None = None, slope: float | None = None,
                        found: dict | None = None):
    """Closed solution of ``p`` with the load-dependent batch (:func:`load_batched`);
    ``net``, if given, is ``build(p, host, w)`` (the others are it at another batch,
    :meth:`Network.with_batch`), ``start`` a log batch near the root and ``slope`` the
    gap's slope there (``found`` gets the slope this search ends with:
    :func:`~iovmodel.solve.batching.load_batched`)."""
    n = w.population
    base = build(p, host, w) if net is None else net

    def solve_at(batch: float) -> tuple:
        nb = base.with_batch(batch)
        return (nb, *_closed(nb, [n])[n])

    return load_batched(solve_at, in_flight(base, n), start=start, slope=slope, found=found)


def _closed(net: Network, pops: Sequence[int], warm: dict | None = None) -> dict[int, tuple]:
    """population -> (X per s, R µs, per-visit waits, utilisation), one MVA pass (``warm``:
    the waiters at contended locks to start from, :func:`solve_closed`)."""
    sol = solve_closed(net, list(pops), warm)
    if isinstance(sol, tuple) and len(sol) == 4 and np.ndim(sol[0]) == 1:  # arrays per population
        X, R, waits, util = sol
        return {n: (float(X[k]), float(R[k]), np.asarray(waits[k]), np.asarray(util[k]))
                for k, n in enumerate(pops)}
    return {n: (float(s[0]), float(s[1]), np.asarray(s[2]), np.asarray(s[3]))
            for n, s in zip(pops, sol, strict=True)}


def _solve_traffic(p: Path, h: HostProfile, w: Workload, net: Network | None = None) -> tuple:
    """A network row with a Traffic: (network, X, R, waits, util) as analyze solves it;
    ``net``, if given, is ``build(p, h, w)``."""
    if w.traffic.saturating and not w.is_open:
        return solve_stream(p, h, w, net)
    if w.is_open:
        f = solve_flood(p, h, w, net)
        return f.net, f.delivered_per_s, f.latency_us, f.waits, f.util
    net = build(p, h, w) if net is None else net
    return (net, *_closed(net, [w.population])[w.population])


#: the metrics that count VM exits (a function of the path and the batch alone)
EXITS = ("exits_per_io", "exits_per_s")

#: host costs a network path's traffic reads beyond its cost expressions (the NIC, a flood's
#: guest and host driver work, the physical link of an exchange with a VM on another host,
#: the NAT of a path with option nat, a macvtap's host stack, vhost-net's batched XDP transmit
#: of a TX flood)
TRAFFIC_READS = ("nic_ns_per_byte", "nic_frame_us", "guest_pkt_us", "guest_pkt_rx_us",
                 "host_pkt_us", "wire_us", "host_nat_us", "host_macvtap_us", "vhost_xdp_tx_us")


def host_reads(path: Path) -> tuple[str, ...]:
    """The names whose values :func:`~iovmodel.network.build` reads for ``path``: the names
    in its active hops' cost and scv expressions and its resources' server counts (host
    costs or options). Two hosts that agree on these give the same network
    (``tests/fit/test_predict_memo.py`` checks it for every catalog path)."""
    names: dict[str, None] = {}
    for h in path.active_hops():
        for expr in (h.cost, h.scv):
            if isinstance(expr, str):
                names.update(dict.fromkeys(sorted(compile_expr(expr)[1])))
    for res in path.resources.values():
        if isinstance(res.servers, str):
            names[res.servers] = None
    if path.device == "net":
        names.update(dict.fromkeys(TRAFFIC_READS))
    return tuple(names)


def server_reads(path: Path) -> tuple[str, ...]:
    """The names the server counts of ``path``'s resources read (host costs or options):
    networks that agree on these and on the workload differ only in hop costs
    (:func:`~iovmodel.network.rebuild`)."""
    return tuple(dict.fromkeys(res.servers for res in path.resources.values()
                               if isinstance(res.servers, str)))


class _Model:
    """Rows grouped by the network they share; predicts every row for a host.

    A fit evaluates the model many times at points that differ in a few costs (a
    Jacobian column group moves the costs no row shares), so networks and their closed
    solutions are remembered by the values they read (:func:`host_reads`): a group whose
    costs did not move is not rebuilt or solved again.
    """

    #: remembered networks beyond which the memo starts afresh (bounds memory in long fits)
    MEMO_SIZE = 20_000
    #: start a contended lock's waiters from the row's last solution (False: from 0 each
    #: time, every prediction then independent of the order of evaluation)
    WARM_LOCKS = True

    def __init__(self, rows: Sequence[_Row], percentiles: str = "approx",
                 sim_options: Mapping[str, Any] | None = None, batching: str | None = None
                 ) -> None:
        self.rows = list(rows)
        #: None: each row's path's own (:attr:`Path.batching`)
        self.batching = batching
        # the last load-dependent batch (log) of each closed row shape and the fixed point's
        # slope there: the next point's search starts there (a Jacobian's step moves it
        # by little)
        self._roots: dict[tuple, tuple[float, float | None]] = {}
        groups: dict[tuple, list[int]] = {}
        for j, r in enumerate(self.rows):
            groups.setdefault(r.group_key(), []).append(j)
        self.groups = list(groups.values())
        # rows that agree on network, workload, metric and scale predict the same number
        # (repeated runs, per-hardware copies): each is computed once, at its first row
        first: dict[tuple, int] = {}
        self._rep = np.array([first.setdefault((r.group_key(), r.workload, r.metric, r.scale), j)
                              for j, r in enumerate(self.rows)], dtype=np.int64)
        self._distinct = [[j for j in idx if self._rep[j] == j] for idx in self.groups]
        self._group_rows = [np.array(idx, dtype=np.int64) for idx in self.groups]
        self.percentiles = percentiles
        self.sim_options = {"requests": 20_000, "replications": 4, "seed": 20240917,
                            **dict(sim_options or {})}
        self._reads: dict[int, tuple[tuple[str, ...], Any]] = {}
        self._memo: dict[tuple, tuple[Network, dict]] = {}
        self._servers: dict[int, tuple[str, ...]] = {}
        self._templates: dict[tuple, Rebuilder] = {}
        # (structure, traffic workload, route costs) -> network and its solutions
        self._solved: dict[tuple, tuple[Network, dict]] = {}
        self._scope: tuple[HostProfile | None, dict] = (None, {})
        self._exits: dict[tuple, float] = {}
        # waiters at contended locks last found per network shape: the next solution of a
        # network a Jacobian step away starts there (iovmodel.solve.locks)
        self._warm: dict[tuple, dict] = {}
        self._hosts: dict[tuple, HostProfile] = {}
        self._hosts_of: HostProfile | None = None
        #: the cost names each kind of row reads, (path id, traffic, overrides) -> names
        #: (filled by the fit's residual structure, iovmodel.calibrate.fit._structure)
        self.used_of: dict[tuple, set[str]] = {}

    def _entry(self, path: Path, host: HostProfile, workload: Workload) -> tuple[Network, dict]:
        got = self._reads.get(id(path))
        if got is None:
            # the names the path's options do not set: their values are the key (the
            # options' are the path's own, constant); of a HostProfile, whose names are the
            # declared costs, only those (the workload's names are in the key's workload)
            free = tuple(n for n in host_reads(path) if n not in path.options)
            costs = tuple(n for n in free if n in parameters())
            got = self._reads[id(path)] = (free, itemgetter(*costs) if costs else None)
        free, get = got
        if isinstance(host, HostProfile):
            costs = get(host._values) if get is not None else ()
        else:  # a plain mapping
            costs = tuple(host[n] if n in host else None for n in free)
        key = (id(path), workload, costs)
        env = path.options
        hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) >= self.MEMO_SIZE:
                # the templates stay: one per path, workload and server counts, few
                self._memo.clear()
                self._solved.clear()
                if len(self._templates) >= self.MEMO_SIZE:
                    self._templates.clear()
            # a network of this path and workload whose server counts read the same values
            # differs only in its hops' costs: re-evaluate those (rebuild), not the structure
            servers = self._servers.get(id(path))
            if servers is None:
                servers = self._servers[id(path)] = server_reads(path)
            tkey = (id(path), workload,
                    tuple(env[n] if n in env else host[n] if n in host else None
                          for n in servers))
            again = self._templates.get(tkey)
            if again is None:
                net = build(path, host, workload)
                again = self._templates[tkey] = Rebuilder(net, path, workload)
            else:
                if self._scope[0] is not host:  # one scope per host: its costs copied once
                    self._scope = (host, _scope(host))
                means, scvs = again.costs(host, self._scope[1])
                net = None
            # the template's structure and its route's costs make the network: hosts that
            # differ only in costs the route does not use here (a branch not taken, a
            # direction the stream does not go), that come back to an earlier point, or
            # workloads that make the same network (block sizes within one page) share it,
            # its solutions and row values instead of making and solving it again; a
            # traffic solution also reads the workload (its population and batch cap)
            skey = (again.structure, workload if workload.traffic is not None else None,
                    again.signature)
            hit = self._solved.get(skey)
            if net is None:
                net = again.make(means, scvs, None if hit is None else hit[0])
            if hit is None:
                hit = self._solved[skey] = (net, {})
            self._memo[key] = hit
        return hit

    def _build(self, path: Path, host: HostProfile, workload: Workload) -> Network:
        return self._entry(path, host, workload)[0]

    def _closed(self, path: Path, host: HostProfile, workload: Workload,
                pops: Sequence[int], entry: tuple[Network, dict] | None = None
                ) -> tuple[Network, dict[int, tuple]]:
        net, sols = self._entry(path, host, workload) if entry is None else entry
        key = tuple(pops)
        sol = sols.get(key)
        if sol is None:
            # one row's last waiters (keyed by path and workload: rows of one shape differ)
            warm = self._warm.setdefault((id(path), workload), {}) if self.WARM_LOCKS \
                else None
            sol = sols[key] = _closed(net, pops, warm)
        return net, sol

    def _traffic(self, path: Path, host: HostProfile, workload: Workload,
                 entry: tuple[Network, dict] | None = None) -> tuple:
        """A traffic row's solution (:func:`_solve_traffic`), remembered with its network
        (``entry``: the row's memo entry, if the caller has it)."""
        net, sols = self._entry(path, host, workload) if entry is None else entry
        sol = sols.get("traffic")
        if sol is None:
            sol = sols["traffic"] = _solve_traffic(path, host, workload, net)
        return sol

    def _simulate(self, net: Network, workload: Workload):
        from ..solve.sim import simulate_network

        return simulate_network(net, progress=False, workload=workload, **self.sim_options)

    def predict(self, host: HostProfile, batch: float | None = None,
                per_unit: Mapping[str, Mapping[str, float]] | None = None,
                only: np.ndarray | None = None) -> np.ndarray:
        """Predictions for every row; ``batch`` replaces the batch of rows that do not state
        one; ``per_unit`` (group -> costs) sets the costs of each group's rows (a
        hierarchical fit), under the costs a row's options pin. ``only`` (a mask over the
        rows): the rows of groups none of whose rows it marks are NaN, not computed."""
        out = np.full(len(self.rows), np.nan)
        skip = None if only is None else [not only[g].any() for g in self._group_rows]
        rows = self.rows if batch is None else [r.with_batch(batch) for r in self.rows]
        # a row's value is remembered with the network entry it was computed from (key
        # ("row", j)): the entry's key holds every value the row's network reads, so a row
        # whose costs did not move is not computed again (simulated percentiles always are)
        keep = self.percentiles != "sim"
        for k, idx in enumerate(self._distinct):
            if skip is not None and skip[k]:
                continue
            r0 = rows[idx[0]]
            own = dict(per_unit.get(r0.unit, {})) if per_unit else {}
            own.update(r0.overrides)
            h = self._host(host, own) if own else host
            if r0.workload.traffic is not None:
                # the group's paths are one path (group_key: name and options): its first
                # row's object keys the networks, so rows of one workload share theirs
                for j in idx:
                    r = rows[j]
                    entry = self._entry(r0.path, h, r.workload)
                    v = entry[1].get(("row", j))
                    if v is None:
                        net, X, R, waits, util = self._traffic(r0.path, h, r.workload, entry)
                        # only the exits read the batch the fixed point found
                        rb = replace(r, workload=replace(r.workload, batch=net.batch)) \
                            if r.metric in EXITS else r
                        v = entry[1][("row", j)] = r.scale * self._value(
                            r.metric, rb, net, X, R, waits, util, None)
                    out[j] = v
                continue
            if r0.workload.is_open:
                entry = self._entry(r0.path, h, r0.workload)
                net, memo = entry
                # the batch notification suppression gives at each row's rate, as analyze
                load = self._load(r0.path)
                for j in idx:
                    r = rows[j]
                    sim = self.percentiles == "sim" and r.metric in QUANTILES
                    v = memo.get(("row", j)) if keep else None
                    if v is None:
                        try:
                            if load and not r.batch_stated:
                                nb, _, R, waits, util = open_load_batched(r.path, h, r.workload)
                                rb = replace(r, workload=replace(r.workload, batch=nb.batch))
                            else:
                                nb, rb = net, r
                                R, waits, util = solve_open(net, r.workload.rate_per_s)
                        except UnstableError:
                            v = math.nan
                        else:
                            v = self._value(r.metric, rb, nb, r.workload.rate_per_s, R, waits,
                                            util, self._simulate(build(r.path, h, rb.workload),
                                                                 rb.workload) if sim else None)
                        if keep:
                            memo[("row", j)] = v
                    out[j] = v
                continue
            if r0.saturated:
                net, memo = self._entry(r0.path, h, r0.workload)
                if any(("row", j) not in memo for j in idx):
                    X, util = stream_bound(net)
                    for j in idx:
                        r = rows[j]
                        R = r.workload.population / X * 1e6 if X > 0 else math.inf
                        memo[("row", j)] = self._value(r.metric, r, net, X, R,
                                                       np.zeros(len(net.stations)), util, None)
                for j in idx:
                    out[j] = memo[("row", j)]
                continue
            if not r0.batch_stated and self._load(r0.path):
                for j in idx:
                    r = rows[j]
                    # one fixed point per network and population, remembered with the
                    # network (its entry's key holds every cost it reads)
                    entry = self._entry(r0.path, h, r.workload)
                    v = entry[1].get(("row", j))  # the row's value at this entry's costs
                    if v is None:
                        key = ("load", r.workload.population)
                        sol = entry[1].get(key)
                        if sol is None:
                            shape = (id(r0.path), r.workload)
                            t0, s0 = self._roots.get(shape, (None, None))
                            found: dict = {}
                            sol = entry[1][key] = _solve_load_batched(
                                r0.path, h, r.workload, entry[0], t0, s0, found)
                            self._roots[shape] = (math.log(sol[0].batch),
                                                  found.get("slope", s0))
                        net, X, R, waits, util = sol
                        # only the exits read the batch the fixed point found
                        rb = replace(r, workload=replace(r.workload, batch=net.batch)) \
                            if r.metric in EXITS else r
                        v = entry[1][("row", j)] = self._value(
                            r.metric, rb, net, X, R, waits, util, None)
                    out[j] = v
                continue
            # a fitted batch is capped at each row's population: one MVA pass per batch value
            by_batch: dict[float, list[int]] = {}
            for j in idx:
                by_batch.setdefault(rows[j].workload.batch, []).append(j)
            for sub in by_batch.values():
                top = max(sub, key=lambda j: rows[j].workload.population)
                entry = self._entry(r0.path, h, rows[top].workload)
                memo = entry[1]
                if keep and all(("row", j) in memo for j in sub):
                    for j in sub:
                        out[j] = memo[("row", j)]
                    continue
                net, sol = self._closed(r0.path, h, rows[top].workload,
                                        sorted({rows[j].workload.population for j in sub}), entry)
                for j in sub:
                    r = rows[j]
                    X, R, waits, util = sol[r.workload.population]
                    sim = None
                    if self.percentiles == "sim" and r.metric in QUANTILES:
                        sim = self._simulate(build(r.path, h, r.workload), r.workload)
                    out[j] = self._value(r.metric, r, net, X, R, waits, util, sim)
                    if keep:
                        memo[("row", j)] = out[j]
        return out[self._rep]

    def _load(self, path: Path) -> bool:
        """Whether a row of ``path`` takes the load-dependent batch (where it states none)."""
        return resolve(self.batching, path) == "load" and path.suppresses_notifications()

    def _value(self, metric: str, row: _Row, net: Network, X: float, R: float,
               waits: np.ndarray, util: np.ndarray, sim: Any) -> float:
        """:func:`_value`, with a row's VM exits per I/O (no cost reads them: a function of
        the path and the batch, a table lookup of some 50 µs) computed once."""
        if metric not in EXITS:
            return _value(metric, row, net, X, R, waits, util, sim)
        key = (id(row.path), row.workload.batch)
        e = self._exits.get(key)
        if e is None:
            if len(self._exits) >= self.MEMO_SIZE:  # a fitted batch takes many values
                self._exits.clear()
            e = self._exits[key] = _value("exits_per_io", row, net, X, R, waits, util, sim)
        return e if metric == "exits_per_io" else e * X

    def _host(self, host: HostProfile, own: dict[str, float]) -> HostProfile:
        """``host.replace(**own)``, made once per host and ``own``: a group's network memo
        and the cost scope follow the profile object."""
        if self._hosts_of is not host:  # a new point: the old profiles are not asked again
            self._hosts.clear()
            self._hosts_of = host
        key = tuple(own.items())
        h = self._hosts.get(key)
        if h is None:
            h = self._hosts[key] = host.replace(**own)
        return h


def check_options(percentiles: str, batching: str | None, host: HostProfile | None) -> None:
    """The prediction options fit and predict share; a bad one raises ParameterError."""
    if percentiles not in ("approx", "sim"):
        raise ParameterError(f"percentiles must be 'approx' or 'sim', got {percentiles!r}")
    if batching is not None and batching not in BATCHING:
        raise ParameterError(f"batching must be None or one of "
                             f"{', '.join(map(repr, BATCHING))}, got {batching!r}")
    if host is not None:
        as_host(host)


#: the columns predict adds to the measurement rows
ADDED_COLUMNS = ("measured", "predicted", "rel_error", "log_error")


def _residual_frame(measurements: pd.DataFrame, y: np.ndarray, pred: np.ndarray) -> pd.DataFrame:
    out = measurements.reset_index(drop=True).copy()
    out["measured"] = y
    out["predicted"] = pred
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rel_error"] = (pred - y) / y
        out["log_error"] = np.log(pred) - np.log(y)
    return out


def predict(measurements: pd.DataFrame, host: HostProfile | None = None, *,
            batch: float | None = None, percentiles: str = "approx",
            sim_options: Mapping[str, Any] | None = None,
            batching: str | None = None, by: str | None = None,
            per_group: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """Predict every row of a measurement frame under one host profile.

    ``batch`` (e.g. :attr:`FitResult.batch`) replaces the batch of the rows that
    do not state one.  Returns the rows plus ``measured``, ``predicted``,
    ``rel_error`` ((predicted - measured) / measured) and ``log_error``; a row
    without a prediction (an open load beyond capacity) gets NaN.  ``per_group`` (from a
    hierarchical fit, :attr:`FitResult.per_group`) gives the rows whose column ``by``
    holds a group its own costs; other rows take ``host``'s.
    """
    check_options(percentiles, batching, host)
    host = host if host is not None else HostProfile.default()
    rows, _ = _parse(measurements, by=by)
    pred = _Model(rows, percentiles, sim_options, batching).predict(host, batch, per_group)
    return _residual_frame(measurements, np.array([r.value for r in rows]), pred)
