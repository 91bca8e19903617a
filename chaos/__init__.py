"""``make chaos``: kill Splitstream's processes under load and check that nothing was lost.

plan.py says what dies when, load.py is the open-loop client, cast.py starts and kills
the services, evidence.py reads Kafka and ClickHouse afterwards, invariants.py judges
(pure), run.py plays the phases, and main.py runs it all on a stack of its own.
"""
