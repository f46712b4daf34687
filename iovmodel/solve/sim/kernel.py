"""The numba nopython event loop of the Monte Carlo simulator.

Nothing here is compiled at import: ``@njit(cache=True)`` without signatures
compiles on the first call and stores the machine code next to this file
(``__pycache__``, or ``NUMBA_CACHE_DIR``), so later processes only load it.
``make`` compiles them at set-up (:func:`iovmodel.solve.sim.precompile`). To keep that
compile short there are few kernels: the event loop, the recursion's three
passes; the heap helpers are left to LLVM to inline (numba-level
``inline="always"`` copied them into every call site before typing) and the
histogram is plain NumPy.

The kernel only sees plain arrays (µs and counts). It runs until it has
recorded ``target`` completions, or until it needs something only Python can do
(more random samples, bigger arrays), or until ``limit`` completions (a progress
checkpoint); it then returns a code and keeps its whole state in the arrays, so
the caller fixes what was asked and calls again.

Model
-----
A request walks the expanded route ``step 0 .. nsteps-1``. At a step it is
either served at a FIFO station with ``c`` servers (``mode 0``) or delayed
without holding any server (``mode 1``: delay stations and polling hops).
Station *instances*: a private station has one instance per group, at
``st_inst[step] + group`` of the request (``slot_group``). The host's core pool
(``servers[cq]`` cores): a step with ``st_core`` needs its server *and* a core,
and waits for the core, FIFO, while holding the server. The pool's requests are
processed in time order (a request asks for a core when it gets its server, at
an event's time), so each one's core is known when it asks, as in
Kiefer-Wolfowitz's recursion: the earliest of the cores' free times (``core_t``,
a binary min-heap), and no queue or event of its own is needed. At an instant
where several things happen: the finishing request frees its core (the thread
longest waiting for one has it), then its server (the next in line takes it and
asks for a core), then moves on. Row ``cq + 1`` of
the queues is the in-flight gate (``inflight`` requests past the start of the
route; the others wait there, FIFO, before step 0). A request leaving the gate
re-enters through the event list (step ``PASS``).
Steps marked ``per_batch`` are fork-join points: the requests of batch
``seq // B`` wait for each other, one token of the batch is served once, then
all its members continue. A step with ``prob < 1`` happens with that
probability (fractional visit counts).

Held servers
------------
A step with ``st_hold >= 0`` holds a second station's server for its whole stay
(simultaneous resource possession, :mod:`iovmodel.solve.holding`: a vCPU thread waiting
for QEMU's global mutex and emulating under it): on entering, the request first takes a
server of the held station's instance (FIFO, in the same queue as that station's own
visits), then queues at its own station while holding it; when its service ends it frees
both, own first. A request that waited for the held server enters its own station when
it gets it (``slot_held``: the instance it holds, -1 none; ``slot_hold_t``: since when).
The time a step held the second server goes to ``blk_busy`` (the held station's busy
time, which the engine adds to it).

Locks whose hand-off grows with the waiters
-------------------------------------------
A step at a lock (``st_hand > 0``, :mod:`iovmodel.solve.locks`) that starts when a
holder releases the lock to the request longest in line takes its sampled service plus
``st_hand`` per request then in line (the new holder among them, at most ``st_cap``):
the cache line passes every spinning waiter. A request finding the lock free pays
nothing more (no one waits). A station of m servers keeps one queue; its per-waiter
cost is divided by m (the waiters at one instance of the lock).

Decided ahead
-------------
A visit to a FIFO single-server station that only this step visits, with no core,
batch or fractional visit (``st_fast``, set by the engine), does not need the event
list: when its arrivals are processed in time order, its start is known at arrival,
``max(arrival, free_t[instance])``, as in Lindley's recursion, and so is its
departure. The request then goes on at once to the next step if that is another
such visit (``CHAIN``: departures of a FIFO single server keep the arrival order,
so the next station's arrivals are processed in time order too) or the end of the
route when nothing happens there that other requests see at its time (no in-flight
gate, no fork-join batch); else an event at the departure lets it enter the next
step then (``AHEAD``, a ``PASS`` event). Every other step is entered only at its
true time, so a station's state is always read in time order. The numbers are
those of the plain event loop (same streams, same arithmetic, same order); only the
block a step's waiting time is added to may differ (blocks of completions), and at
a private station, whose instances share the step's stream, the service times are
handed out in order of arrival rather than of start (the same law).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .events import (  # noqa: F401  (re-exported: engine code reads them as K.*)
    AHEAD,
    CHAIN,
    CHECKPOINT,
    DONE,
    F_BATCHES,
    F_HEAP,
    F_OVERFLOW,
    F_QUEUE,
    F_REFILL,
    F_SLOTS,
    GENERAL,
    I_ADMITTED,
    I_BFREE_N,
    I_COMPLETED,
    I_FLAGS,
    I_FORMING,
    I_FREE_N,
    I_HEAP_N,
    I_IN_FLIGHT,
    I_NEXT_SEQ,
    I_TARGET,
    K_ARRIVAL,
    K_BATCH,
    K_REQ,
    K_THINK,
    N_INTS,
    PASS,
    STEP_BITS,
    STEP_MASK,
)

#: the hash (SHA-256, 16 hex digits) of each module these kernels compile code in from: the
#: event constants above are frozen into the machine code, and numba's cache is keyed on this
#: file's stamp alone, so an edit of events.py must change this file too
#: (tests/test_kernel_caches.py checks the hashes; the AOT module's stamp covers both files)
KERNEL_SOURCES = {"events.py": "6005dad5ef9c8706"}


@njit(cache=True)
def _heap_push(ht, hp, n, t, p):
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if ht[parent] <= t:
            break
        ht[i] = ht[parent]
        hp[i] = hp[parent]
        i = parent
    ht[i] = t
    hp[i] = p
    return n + 1


@njit(cache=True)
def _heap_pop(ht, hp, n):
    """Remove the root; returns the new size (the root must be read before)."""
    n -= 1
    if n == 0:
        return 0
    t = ht[n]
    p = hp[n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and ht[c + 1] < ht[c]:
            c += 1
        if ht[c] >= t:
            break
        ht[i] = ht[c]
        hp[i] = hp[c]
        i = c
    ht[i] = t
    hp[i] = p
    return n


@njit(cache=True)
def _enqueue(q_tok, q_t, q_head, q_len, q, tok, t, margin):
    """Append ``tok`` (entered at ``t``) to FIFO queue ``q``; True when it needs growing."""
    qcap = q_tok.shape[1]
    ql = q_len[q]
    e = q_head[q] + ql
    if e >= qcap:
        e -= qcap
    q_tok[q, e] = tok
    q_t[q, e] = t
    q_len[q] = ql + 1
    return ql + 1 + margin >= qcap


@njit(cache=True)
def _dequeue(q_tok, q_t, q_head, q_len, q):
    """Remove the head of FIFO queue ``q`` (not empty); returns (token, time it entered)."""
    h = q_head[q]
    tok = q_tok[q, h]
    te = q_t[q, h]
    h += 1
    if h == q_tok.shape[1]:
        h = 0
    q_head[q] = h
    q_len[q] -= 1
    return tok, te


@njit(cache=True)
def _take_core(core_t, t, s):
    """A request asking at ``t`` for a core to work ``s`` on: the earliest free core
    (FIFO among those asking, asked in time order); returns when it gets it."""
    f = core_t[0]
    start = t if t > f else f
    _replace_min(core_t, start + s)
    return start


@njit(cache=True)
def _replace_min(free, x):
    """Replace the root of the binary min-heap ``free`` by ``x`` and sift it down."""
    c = free.shape[0]
    k0 = 0
    while True:
        k = 2 * k0 + 1
        if k >= c:
            break
        if k + 1 < c and free[k + 1] < free[k]:
            k += 1
        if free[k] >= x:
            break
        free[k0] = free[k]
        k0 = k
    free[k0] = x


@njit(cache=True)
def _next(buf, pos, j, refill_at):
    """The next number of stream ``j``; True when the stream needs refilling."""
    k = pos[j]
    pos[j] = k + 1
    return buf[j, k], k + 1 >= refill_at


@njit(cache=True)
def run(ints, now, limit,
        st_inst, st_mode, st_batch, st_prob, servers, batch, is_open, think,
        st_private, st_core, st_fast, st_hand, st_cap, st_hold, st_hold_priv,
        slot_group, slot_held, slot_hold_t, group_cum, inflight,
        buf, pos, refill_at,
        ht, hp,
        q_tok, q_t, q_head, q_len,
        busy, free_t, core_t,
        arr_t, slot_batch, free_slots,
        b_count, b_done, b_members, b_arrt, b_start, b_serv, free_batches,
        lat, blk, blk_wait, blk_serv, blk_busy, blk_tend):
    """Advance the simulation; returns a code (``DONE``, ``CHECKPOINT`` or flags).

    ``now`` holds the clock (µs) and, open, the next external arrival's time: the
    arrival stream depends on nothing, so it is kept beside the event list rather than
    in it (at an equal time the arrival goes first). Streams: ``buf[j]`` for
    step ``j``'s service times, ``buf[nsteps]`` for interarrival / think times,
    ``buf[nsteps + 1]`` for uniforms deciding fractional steps, ``buf[nsteps + 2]``
    for uniforms choosing an open arrival's group (``group_cum``: cumulative shares).
    ``st_fast``: ``GENERAL``, ``AHEAD`` or ``CHAIN`` per step (see the module's
    docstring); ``free_t``: per station instance, when its server is next free (steps
    decided ahead only); ``core_t``: when each core of the pool is next free.
    ``st_hand``: a lock step's hand-off per waiting thread (µs, 0: not a lock), paid when
    the lock passes from a releasing holder to the next in line, once per thread then
    waiting there, at most ``st_cap`` of them.
    ``st_hold``: the first instance of the station a step holds besides its own (-1: none;
    ``st_hold_priv``: one instance per group); ``slot_held``: the instance a request holds
    (-1: none) and ``slot_hold_t`` since when (see "Held servers" in the module's docstring).
    Per block of completions and step: ``blk_wait`` waiting, ``blk_serv`` service
    time of the requests, ``blk_busy`` server time of a per-batch step's batches (at
    a step that holds a second station: the time it held that station; at any other
    step it is ``blk_serv``, which the engine reads instead).
    """
    nsteps = st_inst.shape[0]
    s_arr = nsteps
    s_uni = nsteps + 1
    s_grp = nsteps + 2
    ngroups = group_cum.shape[0]
    cq = servers.shape[0] - 2  # the core pool (its queue row is unused); cq + 1: the gate
    gq = cq + 1
    nblk = blk_tend.shape[0]
    # requests entering a step at this instant (at most a released batch); sized with
    # room to spare, as the margins below
    nwork = (nsteps + 2) * batch + 4
    work = np.empty(nwork, dtype=np.int64)
    wstep = np.empty(nwork, dtype=np.int64)
    margin = nwork + 4  # free room kept in the heap, queues and slot pool
    rel = np.empty(2, dtype=np.int64)  # the instances a finishing step frees
    pend = np.empty(2, dtype=np.int64)  # requests that took a held server: (slot, step)
    pend_step = np.empty(2, dtype=np.int64)
    t = now[0]
    next_arr = now[1]
    completed_ = ints[I_COMPLETED]
    next_seq = ints[I_NEXT_SEQ]
    hn = ints[I_HEAP_N]
    free_n = ints[I_FREE_N]
    bfree_n = ints[I_BFREE_N]
    flags = ints[I_FLAGS]
    target = ints[I_TARGET]
    in_flight = ints[I_IN_FLIGHT]
    forming = ints[I_FORMING]
    admitted = ints[I_ADMITTED]
    # block of the next completion (kept incrementally: no division per event)
    cb = min(completed_ // blk, nblk - 1)
    blk_next = (completed_ // blk + 1) * blk
    code = DONE
    while True:
        completed = completed_
        if completed >= target:
            code = DONE
            break
        if flags != 0:
            code = flags
            break
        if completed >= limit:
            code = CHECKPOINT
            break
        n = hn
        if n + margin >= ht.shape[0]:
            flags |= F_HEAP
            continue
        if is_open and (n == 0 or next_arr <= ht[0]):
            t = next_arr
            p = K_ARRIVAL
        else:
            t = ht[0]
            p = hp[0]
            hn = _heap_pop(ht, hp, n)
        kind = p & 3
        step = (p >> 2) & STEP_MASK
        ident = p >> (2 + STEP_BITS)
        nw = 0
        if kind == K_ARRIVAL:
            fn = free_n - 1
            slot = free_slots[fn]
            free_n = fn
            in_flight += 1
            if fn < margin:
                flags |= F_SLOTS
            arr_t[slot] = t
            seq = next_seq
            next_seq = seq + 1
            if batch > 1:
                if seq % batch == 0:
                    bfree_n -= 1
                    if bfree_n < nsteps + 8:  # room for the batches one event can open
                        flags |= F_BATCHES
                    forming = free_batches[bfree_n]
                slot_batch[slot] = forming
            # next arrival
            ia, low = _next(buf, pos, s_arr, refill_at)
            if low:
                flags |= F_REFILL
            next_arr = t + ia
            if ngroups > 1:
                u, low = _next(buf, pos, s_grp, refill_at)
                if low:
                    flags |= F_REFILL
                g = 0
                while g < ngroups - 1 and u >= group_cum[g]:
                    g += 1
                slot_group[slot] = g
            nw = 1
        elif kind == K_THINK:
            slot = ident
            arr_t[slot] = t
            seq = next_seq
            next_seq = seq + 1
            if batch > 1:
                if seq % batch == 0:
                    bfree_n -= 1
                    if bfree_n < nsteps + 8:  # room for the batches one event can open
                        flags |= F_BATCHES
                    forming = free_batches[bfree_n]
                slot_batch[slot] = forming
            nw = 1
        elif kind == K_REQ and step >= PASS:
            # enters a step, releasing nothing: through the in-flight gate (its place was
            # handed over at a completion), or after a step decided ahead
            work[0] = ident
            wstep[0] = step - PASS
            nw = 1
        else:
            # a service or delay finished (its core was freed at the same time): free
            # the server, and the one it held meanwhile; the next in line takes each (a
            # request that waited for a held server goes on to its step's own station)
            nrel = 0
            npend = 0
            if st_mode[step] == 0 and not (kind == K_BATCH and b_serv[ident] < 0.0):
                st = st_inst[step]
                if kind == K_REQ and st_private[step]:
                    st += slot_group[ident]
                rel[0] = st
                nrel = 1
            if kind == K_REQ and st_hold[step] >= 0:
                rel[nrel] = slot_held[ident]
                nrel += 1
                slot_held[ident] = -1
                blk_busy[cb, step] += t - slot_hold_t[ident]
            for ri in range(nrel):
                st = rel[ri]
                if q_len[st] > 0:
                    tok, te = _dequeue(q_tok, q_t, q_head, q_len, st)
                    tstep = (tok >> 2) & STEP_MASK
                    if (tok & 3) == K_REQ:
                        blk_wait[cb, tstep] += t - te
                        tsl = tok >> (2 + STEP_BITS)
                        if st_hold[tstep] >= 0 and slot_held[tsl] < 0:
                            # it waited for this server to hold: it now queues at its own
                            slot_held[tsl] = st
                            slot_hold_t[tsl] = t
                            pend[npend] = tsl
                            pend_step[npend] = tstep
                            npend += 1
                            continue
                    s, low = _next(buf, pos, tstep, refill_at)
                    if low:
                        flags |= F_REFILL
                    if st_hand[tstep] > 0.0:
                        # a lock passed on past every thread waiting at its release (the
                        # new holder among them), at most st_cap of them (iovmodel.solve.locks)
                        wq = q_len[st] + 1
                        if wq > st_cap[tstep]:
                            wq = st_cap[tstep]
                        s += st_hand[tstep] * wq
                    ts = t
                    if st_core[tstep]:  # never a batch token: fork-join has no cores
                        ts = _take_core(core_t, t, s)
                        blk_wait[cb, tstep] += ts - t
                    if (tok & 3) == K_REQ:
                        blk_serv[cb, tstep] += s
                    else:
                        blk_busy[cb, tstep] += s
                        bs = tok >> (2 + STEP_BITS)
                        b_start[bs] = t
                        b_serv[bs] = s
                    hn = _heap_push(ht, hp, hn, ts + s, tok)
                else:
                    busy[st] -= 1
            if kind == K_REQ:
                work[0] = ident
                wstep[0] = step + 1
                nw = 1
                for pi in range(npend):
                    work[nw] = pend[pi]
                    wstep[nw] = pend_step[pi]
                    nw += 1
            else:
                bs = ident
                st0 = b_start[bs]
                s0 = b_serv[bs] if b_serv[bs] > 0.0 else 0.0
                for i in range(batch):
                    m = b_members[bs, i]
                    blk_wait[cb, step] += st0 - b_arrt[bs, i]
                    blk_serv[cb, step] += s0
                    work[nw] = m
                    wstep[nw] = step + 1
                    nw += 1
                b_count[bs] = 0
        if kind >= K_ARRIVAL:
            if admitted < inflight:
                admitted += 1
                work[0] = slot
                wstep[0] = 0
            else:
                if _enqueue(q_tok, q_t, q_head, q_len, gq, slot, t, margin):
                    flags |= F_QUEUE
                nw = 0
        # requests entering a step at time t, in order
        w = 0
        while w < nw:
            slot = work[w]
            step = wstep[w]
            tr = t  # when the request enters ``step`` (later than t after steps decided ahead)
            while True:
                if step == nsteps:
                    # completion of one I/O
                    c = completed_
                    if c < lat.shape[0]:
                        lat[c] = tr - arr_t[slot]
                        blk_tend[cb] = tr
                    completed_ = c + 1
                    if completed_ == blk_next:
                        blk_next += blk
                        if cb < nblk - 1:
                            cb += 1
                    if q_len[gq] > 0:
                        # hand this request's place past the gate to the longest waiting
                        nxt, te = _dequeue(q_tok, q_t, q_head, q_len, gq)
                        blk_wait[cb, 0] += t - te  # the wait before the first hop is its wait
                        hn = _heap_push(ht, hp, hn, t,
                                        (nxt << (2 + STEP_BITS)) | (PASS << 2) | K_REQ)
                    else:
                        admitted -= 1
                    if batch > 1:
                        bs = slot_batch[slot]
                        b_done[bs] += 1
                        if b_done[bs] == batch:
                            b_done[bs] = 0
                            free_batches[bfree_n] = bs
                            bfree_n += 1
                    if is_open:
                        free_slots[free_n] = slot
                        free_n += 1
                        in_flight -= 1
                        break
                    if think > 0.0:
                        z, low = _next(buf, pos, s_arr, refill_at)
                        if low:
                            flags |= F_REFILL
                        hn = _heap_push(ht, hp, hn, tr + z,
                                                    (slot << (2 + STEP_BITS)) | K_THINK)
                        break
                    # closed, no think time: re-enter through the event list (a zero-time
                    # loop here could run unboundedly long without returning)
                    hn = _heap_push(ht, hp, hn, tr, (slot << (2 + STEP_BITS)) | K_THINK)
                    break
                fast = st_fast[step]
                if fast != 0:
                    # FIFO single server, its arrivals processed in time order: the start
                    # is known now (Lindley)
                    st = st_inst[step]
                    if st_private[step]:
                        st += slot_group[slot]
                    s, low = _next(buf, pos, step, refill_at)
                    if low:
                        flags |= F_REFILL
                    fr = free_t[st]
                    start = tr if tr > fr else fr
                    d = start + s
                    free_t[st] = d
                    blk_wait[cb, step] += start - tr
                    blk_serv[cb, step] += s
                    step += 1
                    tr = d
                    if fast == CHAIN:
                        continue
                    hn = _heap_push(ht, hp, hn, d,
                                    (slot << (2 + STEP_BITS)) | ((PASS + step) << 2) | K_REQ)
                    break
                if st_prob[step] < 1.0 and not st_batch[step] and slot_held[slot] < 0:
                    # (a request back from taking its held server decided this before)
                    u, low = _next(buf, pos, s_uni, refill_at)
                    if low:
                        flags |= F_REFILL
                    if u >= st_prob[step]:
                        step += 1
                        continue
                if st_batch[step]:
                    bs = slot_batch[slot]
                    j = b_count[bs]
                    b_members[bs, j] = slot
                    b_arrt[bs, j] = t
                    b_count[bs] = j + 1
                    if j + 1 < batch:
                        break  # wait for the rest of the batch
                    tok = (bs << (2 + STEP_BITS)) | (step << 2) | K_BATCH
                    if st_prob[step] < 1.0:
                        # a fractional per-batch step: decided once for the whole batch
                        u, low = _next(buf, pos, s_uni, refill_at)
                        if low:
                            flags |= F_REFILL
                        if u >= st_prob[step]:
                            # skipped: release the batch now, through the event list
                            b_start[bs] = t
                            b_serv[bs] = -1.0  # marks "no service, no server held"
                            hn = _heap_push(ht, hp, hn, t, tok)
                            break
                else:
                    tok = (slot << (2 + STEP_BITS)) | (step << 2) | K_REQ
                    hs = st_hold[step]
                    if hs >= 0 and slot_held[slot] < 0:
                        # first the server it holds (the vCPU), FIFO with its own visits
                        if st_hold_priv[step]:
                            hs += slot_group[slot]
                        if busy[hs] < servers[hs]:
                            busy[hs] += 1
                            slot_held[slot] = hs
                            slot_hold_t[slot] = t
                        else:
                            if _enqueue(q_tok, q_t, q_head, q_len, hs, tok, t, margin):
                                flags |= F_QUEUE
                            break
                st = st_inst[step]
                if st_private[step]:
                    st += slot_group[slot]
                if st_mode[step] == 1 or busy[st] < servers[st]:
                    if st_mode[step] == 0:
                        busy[st] += 1
                    s, low = _next(buf, pos, step, refill_at)
                    if low:
                        flags |= F_REFILL
                    ts = t
                    if st_core[step]:  # holds its server, waits for a core
                        ts = _take_core(core_t, t, s)
                        blk_wait[cb, step] += ts - t
                    if st_batch[step]:
                        blk_busy[cb, step] += s
                        b_start[bs] = t
                        b_serv[bs] = s
                    else:
                        blk_serv[cb, step] += s
                    hn = _heap_push(ht, hp, hn, ts + s, tok)
                else:
                    if _enqueue(q_tok, q_t, q_head, q_len, st, tok, t, margin):
                        flags |= F_QUEUE
                break
            w += 1
            if hn + margin >= ht.shape[0]:
                flags |= F_HEAP
        if in_flight > 50_000_000:
            flags |= F_OVERFLOW
    # hand the counters back to the caller (kept in locals while running)
    now[0] = t
    now[1] = next_arr
    ints[I_COMPLETED] = completed_
    ints[I_NEXT_SEQ] = next_seq
    ints[I_HEAP_N] = hn
    ints[I_FREE_N] = free_n
    ints[I_BFREE_N] = bfree_n
    ints[I_FLAGS] = flags
    ints[I_IN_FLIGHT] = in_flight
    ints[I_FORMING] = forming
    ints[I_ADMITTED] = admitted
    return code


# ---------------------------------------------------------------- recursion engine
@njit(cache=True)
def fifo_pass(a, s, c, d, order, blk, blk_wait, blk_serv, j):
    """Departures ``d`` of a FIFO station with ``c`` servers; adds waits and services
    per block of customers into ``blk_wait[:, j]`` and ``blk_serv[:, j]``.

    ``a``: arrival times in arrival order, ``s``: their service times, ``order``:
    the customer number of each (empty: customers 0..n-1 in order). Lindley's
    recursion for one server, Kiefer-Wolfowitz (earliest free server, kept in a
    binary min-heap) for several.
    """
    n = a.shape[0]
    ident = order.shape[0] == 0
    free = np.full(c, -np.inf)  # a heap of server-free times
    for i in range(n):
        f = free[0]
        st = a[i] if a[i] > f else f
        x = st + s[i]
        d[i] = x
        b = (i if ident else order[i]) // blk
        blk_wait[b, j] += st - a[i]
        blk_serv[b, j] += s[i]
        if c == 1:
            free[0] = x
        else:
            _replace_min(free, x)


@njit(cache=True)
def delay_pass(a, s, d, order, blk, blk_serv, j):
    """Departures ``d = a + s`` of a delay step; adds services per block."""
    ident = order.shape[0] == 0
    for i in range(a.shape[0]):
        d[i] = a[i] + s[i]
        b = (i if ident else order[i]) // blk
        blk_serv[b, j] += s[i]


@njit(cache=True)
def block_max(x, order, blk, nblk):
    """Maximum of ``x`` per block of customers (0 where a block is empty)."""
    out = np.zeros(nblk)
    ident = order.shape[0] == 0
    for i in range(x.shape[0]):
        b = (i if ident else order[i]) // blk
        if x[i] > out[b]:
            out[b] = x[i]
    return out
