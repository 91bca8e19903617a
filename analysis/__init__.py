"""The read side: the ClickHouse views of ``schemas/clickhouse/`` as typed rows and frames.

The A/B report (``consumers/report.py``), the gateway's dashboard and the promoter's
evidence all read ClickHouse through this package, and take its thresholds (the SRM alpha,
the PSI levels) from ``analysis/thresholds.py``. It imports plumbing and schemas only,
never a service, so every service may import it.
"""
