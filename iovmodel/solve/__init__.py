"""The solver layer: a Network in, a Result out.

``analyze``: the front end (defaults, :func:`~iovmodel.solve.analyze.analyze`, ``compare``,
``sweep``); ``open``: M/G/1 and M/G/c per station; ``closed``: exact MVA; ``percentiles``:
latency percentiles by the gamma approximation; ``batching``: the load-dependent batch of
notification suppression; ``locks``: a guest lock whose hand-off grows with its waiters (the
closed and open solutions iterate over them); ``holding``: a vCPU held while QEMU emulates
its exit under the global mutex (simultaneous possession: the method of layers with the
mutex below); ``streams``: the throughput bound of bulk
transfers; ``metrics``:
every metric the model predicts (the ones :func:`iovmodel.fit` fits to).
"""
