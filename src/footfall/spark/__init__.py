"""Spark in the cluster shape: the session (:mod:`.session`), the rollup job (:mod:`.rollup_job`)
and report queries over Cassandra that rollups cannot answer (:mod:`.sql`). pyspark is imported
only here, and only when a Spark-backed role runs."""
