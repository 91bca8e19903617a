"""The floor's worker: kafka-python, no model; each request is produced back as its reply.

Same client settings as the predictors (plumbing.kafka), same shape of loop (poll,
produce the batch's replies, wait for their acknowledgement, commit), so the floor is
what Kafka and the clients cost. Run: ``python -m bench.echo_worker REQUESTS REPLIES GROUP
READY_FILE``; SIGTERM stops it after the batch in hand.
"""

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from kafka.structs import OffsetAndMetadata

from cli.settings import get_settings
from plumbing import kafka
from predictors.loop import POLL_TIMEOUT_MS

#: Longest the worker waits for its replies' acknowledgements.
WRITE_TIMEOUT_S = 10.0


def serve(request_topic: str, reply_topic: str, group: str, ready_file: Path) -> None:
    settings = get_settings().as_kafka_role("admin")  # the bench's own topics: no ACL table
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    consumer = kafka.consumer(settings, group_id=group, client_id="bench-echo")
    # Bytes in, bytes out: decoding and encoding JSON is the predictor's work, not Kafka's.
    producer = kafka.producer(settings, client_id="bench-echo", value_serializer=None)
    consumer.subscribe([request_topic])
    try:
        while not stop.is_set():
            polled = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
            if consumer.assignment() and not ready_file.exists():
                ready_file.touch()
            futures, offsets = [], {}
            for partition, records in polled.items():
                for record in records:
                    futures.append(producer.send(reply_topic, value=record.value))
                offsets[partition] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
            if not futures:
                continue
            producer.flush(timeout=WRITE_TIMEOUT_S)
            for future in futures:
                future.get(timeout=WRITE_TIMEOUT_S)
            consumer.commit(offsets)
    finally:
        producer.close(timeout=5)
        consumer.close()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]))
