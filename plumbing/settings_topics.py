"""The topics' settings: one name and one partition count per topic of schemas/topics.json.

The fields are written out (so type checkers and readers see them); their defaults come
from the contract, and a unit test checks that the fields and ``TopicKey`` list exactly
the contract's topics.
"""

from dataclasses import replace
from typing import Any, Literal, get_args

from pydantic import Field

from plumbing.settings import SplitstreamSettings
from schemas.registry import TopicSpec, load_topics

#: The key of each topic in schemas/topics.json.
TopicKey = Literal[
    "predict_requests_prod",
    "predict_requests_candidate",
    "predict_replies",
    "score_requests",
    "score_results",
    "feedback",
    "model_events",
    "promoter_commands",
    "promoter_ledger",
    "deadletter",
]

TOPIC_KEYS: tuple[TopicKey, ...] = get_args(TopicKey)
_TOPICS: dict[str, TopicSpec] = {t.key: t for t in load_topics()}


def _name(key: TopicKey) -> Any:
    """The field of a topic's name: the contract's name is its default."""
    spec = _TOPICS[key]
    return Field(spec.name, description=f"Topic name: {spec.description}")


def _partitions(key: TopicKey) -> Any:
    """The field of a topic's partition count: the contract's count is its default."""
    spec = _TOPICS[key]
    return Field(spec.partitions, ge=1, description=f"Partitions of {spec.name}.")


class TopicSettings(SplitstreamSettings):
    """Every topic's name (after ``topic_prefix``) and partition count."""

    topic_prefix: str = Field("", description="Prepended to every topic name.")
    topic_predict_requests_prod: str = _name("predict_requests_prod")
    partitions_predict_requests_prod: int = _partitions("predict_requests_prod")
    topic_predict_requests_candidate: str = _name("predict_requests_candidate")
    partitions_predict_requests_candidate: int = _partitions("predict_requests_candidate")
    topic_predict_replies: str = _name("predict_replies")
    partitions_predict_replies: int = _partitions("predict_replies")
    topic_score_requests: str = _name("score_requests")
    partitions_score_requests: int = _partitions("score_requests")
    topic_score_results: str = _name("score_results")
    partitions_score_results: int = _partitions("score_results")
    topic_feedback: str = _name("feedback")
    partitions_feedback: int = _partitions("feedback")
    topic_model_events: str = _name("model_events")
    partitions_model_events: int = _partitions("model_events")
    topic_promoter_commands: str = _name("promoter_commands")
    partitions_promoter_commands: int = _partitions("promoter_commands")
    topic_promoter_ledger: str = _name("promoter_ledger")
    partitions_promoter_ledger: int = _partitions("promoter_ledger")
    topic_deadletter: str = _name("deadletter")
    partitions_deadletter: int = _partitions("deadletter")

    def topic(self, key: TopicKey) -> TopicSpec:
        """The topic ``key`` of schemas/topics.json, with its configured name and partitions."""
        name: str = getattr(self, f"topic_{key}")
        partitions: int = getattr(self, f"partitions_{key}")
        return replace(_TOPICS[key], name=self.topic_prefix + name, partitions=partitions)

    def topics(self) -> list[TopicSpec]:
        return [self.topic(key) for key in TOPIC_KEYS]
