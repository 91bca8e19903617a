"""A candidate worker with an empty candidate slot idles, then serves once a candidate is set."""

import time

from cli.settings import Settings
from tests.integration.predictor_namespace import (
    broadcast_reload,
    collect,
    make_namespace,
    metric_value,
    predict_request,
    produce,
    publish,
    reading,
    running_worker,
    set_slots,
)


def test_candidate_worker_idles_without_a_candidate_and_serves_once_one_is_set(
    stack: Settings,
) -> None:
    # Given slots with a best model and no candidate
    ns = make_namespace(stack)
    publish(ns, "v1", scale=1.0)
    set_slots(ns, best="v1")

    with running_worker(ns, "candidate", refresh_s=300) as worker:
        # Then the worker reports that it idles, and answers nothing
        assert (
            metric_value(worker.metrics(), "splitstream_predictor_model_loaded", slot="candidate")
            == 0.0
        )
        assert "idle: no model in this slot" in worker.log()
        early = predict_request(ns, slot="candidate")
        with reading(ns, "predict_replies") as replies:
            produce(ns, "predict_requests_candidate", [early])
            time.sleep(3)
            assert collect(replies, lambda e: True, count=1, timeout_s=1) == []

        # When a candidate is published, set and broadcast
        publish(ns, "v2", scale=2.0)
        with (
            reading(ns, "model_events", from_end=True) as events,
            reading(ns, "predict_replies") as replies,
        ):
            slots = set_slots(ns, best="v1", candidate="v2")
            broadcast_reload(ns, slots, reason="publish")
            acks = collect(
                events,
                lambda e: (
                    e.get("event_type") == "model.reloaded"
                    and e.get("generation") == slots.generation
                ),
                count=1,
            )
            later = predict_request(ns, slot="candidate")
            produce(ns, "predict_requests_candidate", [later])
            ids = {early["request_id"], later["request_id"]}
            answered = collect(replies, lambda e: e.get("request_id") in ids, count=2)

        # Then it acknowledges v2, and answers the request that waited as well as a new one
        assert len(acks) == 1, worker.log()[-3000:]
        assert (acks[0][1]["slot"], acks[0][1]["model_version"]) == ("candidate", "v2")
        assert len(answered) == 2, worker.log()[-3000:]
        for _, reply in answered:
            assert (reply["status"], reply["slot"], reply["model_version"]) == (
                "ok",
                "candidate",
                "v2",
            )
        assert (
            metric_value(worker.metrics(), "splitstream_predictor_model_loaded", slot="candidate")
            == 1.0
        )
