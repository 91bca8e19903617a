"""Clients of the services: what another process needs to talk to one, or read its state.

- ``promoter_commands``: operators' commands to the promoter over ``promoter.commands``.
- ``ledger_reader``: the promoter's ledger topic, read from the start to its end.
- ``ledger_evidence``: how a ledger record's evidence reads, wherever a decision is shown.
- ``scorer``: the batch scorer's client (score.requests out, score.results back).
- ``split_store``: the candidate share the promoter keeps in S3 (``control/split.json``).
- ``sink_query``: read-only SQL through the sink's ``/query``, and the reader a process opens.
"""
