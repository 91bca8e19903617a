"""The demo (``splitstream demo``, ``make demo``): models, traffic and the loop, end to end.

- ``scenario``: a weak best and a better candidate, then held-out traffic and batch scoring.
- ``loop``: the full loop: a candidate promoted, a worse one rolled back, the ledger verified.
- ``traffic``: open-loop HTTP traffic against the gateway.

It drives the system only through what a user has (HTTP, Kafka topics, the promoter's
commands); the bench, chaos runs and integration tests reuse its pieces.
"""
