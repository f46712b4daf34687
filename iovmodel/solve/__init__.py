"""Solver layer: what a solved network predicts beyond its mean.

``percentiles``: latency percentiles by the gamma approximation; ``batching``: the
load-dependent batch of notification suppression; ``streams``: the throughput bound of
bulk transfers; ``metrics``: every metric the model predicts (the ones :func:`iovmodel.fit`
fits to).  :func:`iovmodel.analyze` and its :class:`~iovmodel.Result` expose them.
"""
