"""The event loop's constants: event kinds, return codes and flags, state indices.

Plain Python (no numba), so the engine can read them without importing numba when
the ahead-of-time kernels (:mod:`.aot`) are used. :mod:`.kernel` imports them, and
numba freezes them into its machine code: numba's on-disk cache is keyed on
``kernel.py`` alone, so after changing a value here touch ``kernel.py`` (the AOT
build's stamp covers both files).
"""

# event kinds (low 2 bits of a payload)
K_REQ = 0  # a request finished its step
K_BATCH = 1  # a batch token finished its step
K_ARRIVAL = 2  # an external arrival (the kernel keeps the next one beside the event list)
K_THINK = 3  # a closed-network request finished thinking

# return codes / flags
DONE = 0
CHECKPOINT = 1
F_REFILL = 2
F_HEAP = 4
F_QUEUE = 8
F_SLOTS = 16
F_BATCHES = 32
F_OVERFLOW = 64  # too many requests in flight (unstable in practice)

# indices into the int64 state vector
I_COMPLETED = 0
I_NEXT_SEQ = 1
I_HEAP_N = 2
I_FREE_N = 3
I_BFREE_N = 4
I_FLAGS = 5
I_TARGET = 6
I_IN_FLIGHT = 7
I_FORMING = 8  # batch slot collecting the newest sequence numbers
I_ADMITTED = 9  # requests past the start of the route (the in-flight limit's count)
N_INTS = 10

STEP_BITS = 16
STEP_MASK = (1 << STEP_BITS) - 1
#: a ``K_REQ`` event whose step field is ``PASS + j``: the request enters step ``j`` at the
#: event's time and releases nothing (it left the step before at a time decided when it
#: entered it, or it passed the in-flight gate: ``j = 0``); routes have fewer steps
PASS = 1 << (STEP_BITS - 1)

# how a step is simulated (``st_fast``)
GENERAL = 0  # queue and completion event
AHEAD = 1  # FIFO single server, start decided at entry; an event at its departure
CHAIN = 2  # as AHEAD, and the request enters the next step at once (ahead of time)
