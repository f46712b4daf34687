r"""Calibration: fit host costs to measured data.

The package reads top-down: :mod:`.rows` parses the measurement rows, :mod:`.predict`
predicts them through :mod:`iovmodel.solve`, :mod:`.fit` fits, :mod:`.result` holds the
:class:`FitResult`, :mod:`.report` cross-validates and reports.

:func:`fit` turns a frame of measurements (the tidy schema of
:mod:`iovmodel.datasets`: one row per measured number, with its ``path``,
``options``, workload columns, ``metric`` and ``value``) into a calibrated
:class:`~iovmodel.spec.profile.HostProfile`.  Every row is predicted through the
same model as :func:`iovmodel.analyze` (open workloads: M/G/c per station;
closed: exact MVA), so a cost shared by several paths (``vmexit_us``,
``wakeup_us``, ...) is estimated once, jointly over all of them.

Priors (the default, ``prior="typical"``)
-----------------------------------------
Each free cost gets a log-normal prior from its published typical range in
``costs.toml`` (:func:`prior_of`: median the default value, the range inside the central
95 %), and the fit is the maximum a posteriori estimate: the half sum of squares of
:math:`\mathrm{sign}(u_i)\sqrt{\rho(u_i^2)}`, :math:`u_i = r_i / f_\mathrm{scale}`
(``loss="soft_l1"`` by default, so a far row weighs linearly, not quadratically), plus
:math:`\tfrac12\sum_j ((\ln c_j - \ln m_j)/\sigma_j)^2`.  Intervals are the Laplace
approximation's: the inverse Gauss-Newton Hessian of that objective, its data part
divided by :math:`\max(1, (\hat s / f_\mathrm{scale})^2)` where :math:`\hat s` is
1.4826 x the median absolute log residual (a model that misses by 30 % knows less than
one that misses by 10 %).  A cost whose posterior spread stays above half its prior's is
"not informed" and stays at its prior (the notes list it).  A fitted cost outside its
typical range warns (:class:`~iovmodel.errors.OutsideTypicalWarning`; more than
``plausible_factor``, 3, outside: :class:`~iovmodel.errors.ImplausibleProfileWarning`), as
does one on a bound of its box (:class:`~iovmodel.errors.CostAtBoundWarning`); the notes
repeat them.  ``prior=None`` gives the plain least squares below.

Your own data, hierarchical fits, validation
--------------------------------------------
``fit("runs/*.json", path="virtio-blk")`` reads fio / iperf3 JSON and tidy CSVs
(:func:`read_measurements`) and keeps the rows worth fitting (:func:`pick_metrics`; the
rest are in :attr:`FitResult.ignored` with their reasons).  ``fit(df, by="hardware")``
shares the virtualization costs over all rows and gives each group its own costs of
``kind = "hardware"`` (``costs.toml``: the device, OS stacks, copies, system calls).
``crossval(df, by="source")`` leaves each source out in turn;
:func:`pair_directions` checks, for rows on the same hardware that differ in one
condition, whether the predicted ratio points the measured way (a predicted change within
1 % is a ``tie``: the model sees no difference there, which is never a right direction);
:func:`direction_ceiling` gives the share of those directions any prediction blind to the
``hardware`` column can get right (a class of pairs whose hosts disagree has one majority).
The finite-difference Jacobian differences together the costs no row shares (a column
colouring), so a hierarchical fit costs about as many evaluations as a shared one.
``benchmarks/bench_fidelity.py`` prints the accuracy table of the README.

Prediction bands
----------------
``FitResult.predict(rows, level=0.95)`` (and ``crossval(..., level=0.95)``) puts a band on
each prediction: the fitted costs' covariance carried to the row by the delta method plus
the fit's own misses of its rows (:mod:`.bands`); rows need no ``value``, so unmeasured
workloads get one too. Before any fit, :func:`prior_band` gives the band the costs'
published typical ranges allow (:mod:`.prior_bands`).

The objective without priors
----------------------------
Least squares of log residuals, :math:`r_i = w_i \,[\ln \hat y_i(\theta) - \ln y_i]`,
so a 10 % miss weighs the same on 10 µs and on 1 M IOPS.  The free costs are
fitted as :math:`\theta_j = \ln c_j` inside their declared bounds
(``costs.toml``; a lower bound of 0 becomes 1/1000 of the smaller of the
start value and the typical lower end, since a log cannot reach 0), with
:func:`scipy.optimize.least_squares` (trust-region reflective; ``loss`` is its
robust loss).  Standard errors come from the Gauss-Newton covariance
:math:`s^2 (J^\top J)^{-1}` with :math:`s^2 = \sum r_i^2 / (m - n)`; the 95 %
interval is :math:`\exp(\theta_j \pm t_{0.975,\,m-n}\, \mathrm{se}_j)`, so it is
positive and asymmetric in the cost.  Bootstrap intervals (``n_boot``) resample
the rows with replacement and refit; they are percentile intervals.

Metrics (:data:`PREDICTABLE`)
-----------------------------
``iops``, ``throughput_per_s``, ``transactions_per_s``: the throughput X.
``throughput_gbps``: X x ``size_bytes`` x 8 / 1e9.
``cpu_us_per_io`` with a ``label`` starting with "vmm" (as the Firecracker
dataset derives it): the VMM threads' CPU per I/O.  ``cpu_us_per_io`` with the option
``cpu_of=guest_fio`` (fio's usr + sys in the guest) or, on a native path,
``cpu_of=host_fio``: the benchmark process's CPU per I/O, the demand at the vCPU
threads (the exits taken on them included: the guest's clock runs through an exit).
A block row whose ``rw`` is a mix (``randrw``, ``rw``) takes fio's read percentage from the
option ``rwmixread=N`` (fio's default 50 when absent).
``latency_us`` (and ``clat_us``, taken as the mean latency: fio's submission
latency of libaio is well under 1 µs): the mean response time R.
``latency_p50_us`` ... ``latency_p999_us``: a percentile of the response time
(see below).  ``cpu_us_per_io``: host CPU µs per I/O
(:attr:`Result.cpu_us_per_io`).  ``cpu_util_host_pct``: 100 X x that.
``cpu_util_vmm_pct``: 100 X x the demand at the VMM's own threads (QEMU main
loop / BQL, iothreads, a Firecracker/Cloud Hypervisor event loop, polling
backends at their full core).  ``cpu_util_vcpu_pct``: the vCPU threads as the host
counts them: 100 X x the demand at the vCPU threads (guest work and the exits taken on
them) plus, under KVM, the idle time KVM spends halt-polling for the next interrupt
(``halt_poll_us``, :func:`iovmodel.solve.metrics.vcpu_thread_pct`).  ``exits_per_io``: VM
exits per I/O (:meth:`Path.mode_switches`, per-batch hops count 1/batch);
``exits_per_s``: X times that.

Latency percentiles
-------------------
By default (``percentiles="approx"``) the response time is taken as gamma
distributed with the model's mean R and a variance summed over the route: each
hop's service variance (``scv`` x mean², times its count per I/O) plus, per
visit to a queueing station, the variance of its wait (:func:`latency_variance`:
at one server the sum of a geometric number of services found ahead, exact for
M/M/1, whose sojourn time is exponential with mean :math:`1/(\mu-\lambda)`,
Kleinrock 1975, vol. 1, section 3.2; at c servers Erlang-C waiting; in a closed
network bounded by the N - 1 other requests).  Against the simulator on the
QEMU paths it is within 12 % from one request in flight to saturation (a test);
near an open load's capacity it is coarser (up to 2x on the median).
``percentiles="sim"`` instead simulates every row's network with
:func:`iovmodel.solve.sim.simulate_network` under one fixed seed (common random
numbers, so the objective stays a deterministic function of the costs).

Batching
--------
Per-batch hops (a kick, a wake-up, an interrupt) cost 1/batch per I/O.  A row's
``batch`` column states it; when it is empty, ``batching="amortised"`` takes 1,
``free=[..., "batch"]`` fits one effective batch for all such rows, and
``batching="load"`` derives it from the load (closed rows, and rows at an offered
``rate_per_s``, where :math:`\rho` needs no solution: the rate times the notified
station's demand at batch b; not on a path whose options suppress no notification,
:meth:`Path.suppresses_notifications`): with notification
suppression (virtio EVENT_IDX, a backend that drains its ring on each wake-up) a
request that arrives while the notified backend is busy rides on the current
pass; arrivals see time averages, so a fraction :math:`1-\rho` of them find it
idle and the batch is :math:`b = 1/(1-\rho)` (at most the requests in flight),
:math:`\rho` the utilisation of the busiest notified station (the backend
thread, not the vCPUs) at batch b: a fixed point, found by Brent's method in log b
(in a fit, by secant steps from the row's root at the previous point, which a
Jacobian's step moves by little).  ``batching=None`` (the default) takes each path's
own, :attr:`Path.batching`: ``"load"`` on a path whose back-end signals once per pass
of its ring (``firecracker-virtio-blk``, ``cloudhv-virtio-blk``), ``"amortised"``
elsewhere.

Rows
----
``path`` names a catalog path; ``options`` (``key=value;...``) sets path
options (``workers=4``) and may pin a cost for that row only
(``device_blk_us=0.5`` for a null_blk backend); other keys are configuration
labels and are ignored (listed in :attr:`FitResult.notes`), except that a
label ``key=word`` sets the path's boolean option ``key_word`` when it has one
(``engine=async`` sets ``engine_async`` of ``firecracker-virtio-blk``).  Workload: an
open workload when ``rate_per_s`` is set, else closed with ``jobs`` (default
1), ``iodepth`` (default 1), ``think_us`` (default 0); ``size_bytes``
(default 4096) and ``batch`` (default 1).  A bulk network transfer (``rw`` tx,
rx or bidir on a network path, ``iodepth`` not stated: iperf3 streams) keeps
its bottleneck busy, so its throughput and CPU rows are predicted at the
asymptotic bound :math:`X = \min_k c_k / D_k` (Lazowska et al. 1984, section
5.2).  Rows that share a path, options and workload shape share one network:
one MVA pass serves all their populations.

``python -m iovmodel.fit`` (or ``python -m iovmodel.calibrate.report``) prints the fit and cross-validation error of every
bundled dataset (:func:`dataset_report`).
"""

from ..solve.metrics import PREDICTABLE
from ..solve.percentiles import latency_quantile, latency_variance
from .fit import fit, prior_of
from .predict import predict
from .prior_bands import prior_band
from .report import (
    crossval,
    dataset_report,
    direction_ceiling,
    fit_groups,
    pair_directions,
    split_low_load,
)
from .result import FitResult
from .rows import predictable
from .sources import pick_metrics, read_measurements

__all__ = ["PREDICTABLE", "FitResult", "crossval", "dataset_report", "direction_ceiling",
           "fit", "fit_groups",
           "latency_quantile", "latency_variance", "pair_directions", "pick_metrics", "predict", "predictable",
           "prior_band", "prior_of", "read_measurements", "split_low_load"]
