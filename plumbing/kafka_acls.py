"""What each Kafka principal may do: the one ACL table, derived from the settings.

``splitstream stack up`` creates these ACLs (idempotently) with the admin principal;
the broker runs the StandardAuthorizer with ``allow.everyone.if.no.acl.found=false``, so
anything not listed here is refused. The admin is the broker's only super user and has no
row. ``python -m plumbing.kafka_acls`` writes the README's table (a test checks it).

Why each row is there (the code that needs it):

- gateway: produces requests and feedback, reads its reply partition and the model
  events by ``assign()`` (no group); sends operators' commands and reads their results;
  reads the ledger for the dashboard's timeline.
- predictor (prod, candidate and the batch scorer): a consumer group per pool; replies,
  results, reload acknowledgements on model.events, dead letters.
- sink: every topic with a table, in its group; dead letters.
- promoter: model.events (triggers, publishes, reload broadcast and acks), the commands
  topic (commands in, results out), the ledger (the only writer); its group; and Describe
  on the serving predictors' groups, to know whose acknowledgement to wait for.
- agent (Faust): the request, reply and feedback topics; triggers on model.events; its own
  internal and changelog topics (created by Faust, named after its app id) and its group.
- trainer: announces a published candidate on model.events.
- operator: sends commands and reads their results; reads the ledger (replay --verify).
- batch: writes score.requests, reads score.results, and groups of its own prefix.

kafka-python's producers are idempotent by default; since Kafka 3.0 that needs only Write
on a topic (KIP-679). No client uses transactions.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from plumbing.settings import PROJECT_ROOT, KafkaRole
from plumbing.settings_kafka import KafkaSettings
from plumbing.settings_topics import TOPIC_KEYS, TopicKey

BEGIN = "<!-- acl-table:begin -->"
END = "<!-- acl-table:end -->"

Operation = Literal["READ", "WRITE", "DESCRIBE", "CREATE"]
ResourceKind = Literal["topic", "group"]


@dataclass(frozen=True)
class Grant:
    """One allowed operation of one principal on one resource (or resource-name prefix)."""

    role: KafkaRole
    operation: Operation
    resource: ResourceKind
    name: str
    prefixed: bool = False


def serving_groups(settings: KafkaSettings) -> dict[str, str]:
    """The predictors' consumer groups, by slot (as ``predictors.main.group_id`` names them)."""
    p = settings.topic_prefix
    return {
        "prod": f"{p}splitstream-predictor-prod",
        "candidate": f"{p}splitstream-predictor-candidate",
        "score": f"{p}splitstream-scorer",
    }


def splitstream_groups(settings: KafkaSettings) -> dict[str, str]:
    """Every consumer group of Splitstream's own services, by what runs in it."""
    p = settings.topic_prefix
    return {
        **{f"predictor-{slot}": group for slot, group in serving_groups(settings).items()},
        "sink": p + settings.sink_group,
        "promoter": f"{p}splitstream-promoter",
        "agent": p + settings.promoter_agent_app_id,
    }


def _topics(
    settings: KafkaSettings, role: KafkaRole, op: Operation, *keys: TopicKey
) -> list[Grant]:
    return [Grant(role, op, "topic", settings.topic(key).name) for key in keys]


def acl_table(settings: KafkaSettings) -> list[Grant]:
    """Every grant of every principal but the admin, for these settings' names."""
    groups = splitstream_groups(settings)
    requests: tuple[TopicKey, ...] = ("predict_requests_prod", "predict_requests_candidate")
    commands: TopicKey = "promoter_commands"
    stored = [key for key in TOPIC_KEYS if settings.topic(key).table]
    agent_stem = groups["agent"] + "-"
    return [
        *_topics(settings, "gateway", "WRITE", *requests, "feedback", commands),
        *_topics(
            settings,
            "gateway",
            "READ",
            "predict_replies",
            "model_events",
            commands,
            "promoter_ledger",
        ),
        *_topics(settings, "predictor", "READ", *requests, "score_requests", "model_events"),
        *_topics(
            settings,
            "predictor",
            "WRITE",
            "predict_replies",
            "score_results",
            "model_events",
            "deadletter",
        ),
        *[Grant("predictor", "READ", "group", groups[f"predictor-{s}"]) for s in _SLOTS],
        *_topics(settings, "sink", "READ", *stored),
        *_topics(settings, "sink", "WRITE", "deadletter"),
        Grant("sink", "READ", "group", groups["sink"]),
        *_topics(settings, "promoter", "READ", "model_events", commands, "promoter_ledger"),
        *_topics(settings, "promoter", "WRITE", "model_events", commands, "promoter_ledger"),
        Grant("promoter", "READ", "group", groups["promoter"]),
        *[
            Grant("promoter", "DESCRIBE", "group", groups[f"predictor-{s}"])
            for s in ("prod", "candidate")
        ],
        *_topics(settings, "agent", "READ", *requests, "predict_replies", "feedback"),
        *_topics(settings, "agent", "WRITE", "model_events"),
        *[
            Grant("agent", op, "topic", agent_stem, prefixed=True)
            for op in ("READ", "WRITE", "CREATE")
        ],
        Grant("agent", "READ", "group", groups["agent"]),
        *_topics(settings, "trainer", "WRITE", "model_events"),
        *_topics(settings, "operator", "WRITE", commands),
        *_topics(settings, "operator", "READ", commands, "promoter_ledger"),
        *_topics(settings, "batch", "WRITE", "score_requests"),
        *_topics(settings, "batch", "READ", "score_results"),
        Grant(
            "batch",
            "READ",
            "group",
            settings.topic_prefix + settings.kafka_batch_group_prefix,
            prefixed=True,
        ),
    ]


_SLOTS = ("prod", "candidate", "score")


def markdown_table(settings: KafkaSettings) -> str:
    """The table as the README shows it: one row per principal, with every grant."""
    rows = ["| principal | may | on |", "| --- | --- | --- |"]
    grants = acl_table(settings)
    for role in dict.fromkeys(g.role for g in grants):
        mine = [g for g in grants if g.role == role]
        for (operation, kind), names in _by_operation(mine).items():
            principal = f"`User:{settings.kafka_user(role)}`"
            rows.append(f"| {principal} | {operation} {kind} | {', '.join(names)} |")
    return "\n".join(rows)


def _by_operation(grants: list[Grant]) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for g in grants:
        shown = f"`{g.name}*`" if g.prefixed else f"`{g.name}`"
        out.setdefault((g.operation, g.resource), []).append(shown)
    return out


def rewrite_readme(readme: Path) -> None:
    """Replace the table between the README's markers with the one of the default settings."""
    text = readme.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(f"{head}{BEGIN}\n{markdown_table(KafkaSettings.load())}\n{END}{tail}")


if __name__ == "__main__":
    rewrite_readme(PROJECT_ROOT / "README.md")
