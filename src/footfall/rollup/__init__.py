"""Hourly rollups: what the Spark rollup job builds and what reports read instead of events.

:mod:`.cells` turns joined event rows into rollup cells (sums and mergeable sketches),
:mod:`.answer` answers a report from cells, :mod:`.scheduler` runs the job and measures the lag.
"""
