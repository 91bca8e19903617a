"""Ask the active promoter to act: one ``promoter.command``, one awaited result.

The gateway's admin endpoints and the CLI both come through here, so every manual
action goes through the promoter's single writer: the same swap, the same ledger. A
change of the candidate share is such an action too (``split``).
Commands and their results travel on ``promoter.commands``, which only the operator,
gateway and promoter principals may write: that is what makes a command an operator's.
A caller whose settings name no Kafka principal sends as the operator.
``post_command`` only sends one, for a caller that does not wait (a chaos test that
kills the promoter before it can answer).
"""

import json
import time
import uuid
from typing import Literal

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from plumbing import kafka
from plumbing.errors import PromoterUnavailableError
from plumbing.settings_kafka import PromoterClientSettings
from schemas.decision_events import PromoterCommand, PromoterCommandResult

CommandAction = Literal["promote", "reject", "rollback", "pause", "resume", "split"]


def send_command(
    settings: PromoterClientSettings,
    *,
    action: CommandAction,
    operator: str,
    reason: str,
    expected_generation: int | None = None,
    candidate_share: float | None = None,
    timeout_s: float | None = None,
) -> PromoterCommandResult:
    """Send the command and wait for the promoter's answer.

    Raises:
        PromoterUnavailableError: no answer within ``timeout_s`` (default
            ``promoter_command_timeout_s``).
    """
    command = new_command(
        action=action,
        operator=operator,
        reason=reason,
        expected_generation=expected_generation,
        candidate_share=candidate_share,
    )
    settings = settings.with_default_kafka_role("operator")
    partition = TopicPartition(settings.topic("promoter_commands").name, 0)
    listener = kafka.consumer(settings, group_id=None, client_id=f"command-{action}")
    try:
        listener.assign([partition])
        listener.seek_to_end(partition)
        listener.position(partition)  # resolve now: the answer comes after this point
        post_command(settings, command)
        return _await_result(listener, partition, str(command.command_id), timeout_s, settings)
    finally:
        listener.close()


def new_command(
    *,
    action: CommandAction,
    operator: str,
    reason: str,
    expected_generation: int | None = None,
    candidate_share: float | None = None,
) -> PromoterCommand:
    """An operator's command, with a fresh id; ``post_command`` sends it.

    ``candidate_share`` is the new share of a ``split`` command (None for the others).
    """
    return PromoterCommand.create(
        command_id=str(uuid.uuid4()),
        action=action,
        operator=operator,
        expected_generation=expected_generation,
        candidate_share=candidate_share,
        reason=reason,
    )


def post_command(settings: PromoterClientSettings, command: PromoterCommand) -> None:
    """Send ``command`` without waiting for an answer (a chaos test kills its promoter)."""
    sender = kafka.producer(
        settings.with_default_kafka_role("operator"), client_id=f"command-{command.action}"
    )
    try:
        topic = settings.topic("promoter_commands").name
        sender.send(topic, command.model_dump(mode="json")).get(timeout=10)
    finally:
        sender.close(timeout=5)


def _await_result(
    listener: KafkaConsumer,
    partition: TopicPartition,
    command_id: str,
    timeout_s: float | None,
    settings: PromoterClientSettings,
) -> PromoterCommandResult:
    deadline = time.monotonic() + (timeout_s or settings.promoter_command_timeout_s)
    while time.monotonic() < deadline:
        for message in listener.poll(timeout_ms=200).get(partition, []):
            result = _result_for(message.value, command_id)
            if result is not None:
                return result
    raise PromoterUnavailableError(
        f"no promoter answered within {timeout_s or settings.promoter_command_timeout_s} s; "
        "is `splitstream promoter` running?"
    )


def _result_for(value: bytes | None, command_id: str) -> PromoterCommandResult | None:
    try:
        event = json.loads(value or b"")
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to parse
        return None
    if not isinstance(event, dict) or event.get("event_type") != "promoter.command_result":
        return None
    if event.get("command_id") != command_id:
        return None
    return PromoterCommandResult.model_validate(event)
