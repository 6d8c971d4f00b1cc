"""The probe engine: what one route check measures, as blackbox_exporter measures it.

``http.check`` and ``tcp.check`` are coroutines: the check worker runs them on a loop of its own
per pool thread (``runner.run``), one at a time for a single check or many at once for a chunk.
``options.CheckOptions`` is what a check may be asked to do, ``modules`` reads blackbox_exporter's
module file into such options, and ``exposition`` writes a result in Prometheus's text format
under blackbox_exporter's metric names.
"""
