"""The ACL table: what each principal may do, and that it names the services' own groups."""

import pytest

from cli.settings import Settings, load_settings
from consumers.main import group_id as sink_group
from plumbing.kafka_acls import Grant, acl_table, markdown_table, splitstream_groups
from plumbing.settings import PROJECT_ROOT
from predictors.main import group_id as predictor_group
from promoter.agent_app import app_id
from promoter.main import promoter_group
from promoter.swap import serving_group
from stack import kafka_access
from stack.services import APP_SERVICES, kafka_role

README = (PROJECT_ROOT / "README.md").read_text()


@pytest.fixture
def settings() -> Settings:
    return load_settings(topic_prefix="p.")


def _writers(settings: Settings, key: str) -> set[str]:
    name = settings.topic(key).name
    return {
        g.role
        for g in acl_table(settings)
        if g.operation == "WRITE" and g.resource == "topic" and g.name == name
    }


def test_the_groups_are_the_ones_the_services_join(settings: Settings) -> None:
    groups = splitstream_groups(settings)
    assert groups["predictor-prod"] == predictor_group(settings, "prod")
    assert groups["predictor-candidate"] == predictor_group(settings, "candidate")
    assert groups["predictor-score"] == predictor_group(settings, "score")
    assert groups["predictor-prod"] == serving_group(settings, "prod")
    assert groups["sink"] == sink_group(settings)
    assert groups["promoter"] == promoter_group(settings)
    assert groups["agent"] == app_id(settings)


def test_only_the_promoter_writes_the_ledger(settings: Settings) -> None:
    assert _writers(settings, "promoter_ledger") == {"promoter"}


def test_only_operators_the_gateway_and_the_promoter_write_commands(settings: Settings) -> None:
    assert _writers(settings, "promoter_commands") == {"operator", "gateway", "promoter"}


def test_the_batch_producer_writes_score_requests_reads_results_and_its_own_groups(
    settings: Settings,
) -> None:
    batch = {g for g in acl_table(settings) if g.role == "batch"}
    assert batch == {
        Grant("batch", "WRITE", "topic", "p.score.requests"),
        Grant("batch", "READ", "topic", "p.score.results"),
        Grant("batch", "READ", "group", "p.batch-", prefixed=True),
    }
    assert not any(g.startswith("p.batch-") for g in splitstream_groups(settings).values())


def test_every_grant_names_a_contract_topic_or_the_agents_own(settings: Settings) -> None:
    topics = {t.name for t in settings.topics()}
    agent_stem = app_id(settings) + "-"
    for grant in acl_table(settings):
        if grant.resource == "topic" and not grant.prefixed:
            assert grant.name in topics, grant
        elif grant.resource == "topic":
            assert (grant.role, grant.name) == ("agent", agent_stem), grant
    assert not any(g.role == "admin" for g in acl_table(settings))  # the super user


def test_the_broker_gets_one_acl_per_grant_for_its_principal(settings: Settings) -> None:
    acls = kafka_access.acls(settings)
    assert len(acls) == len(set(acls)) == len(acl_table(settings))
    assert {a.principal for a in acls} == {
        f"User:splitstream-{g.role}" for g in acl_table(settings)
    }


@pytest.mark.parametrize(("name", "args"), APP_SERVICES)
def test_each_service_the_stack_starts_runs_as_its_own_principal(
    name: str, args: tuple[str, ...]
) -> None:
    expected = {"sink": "sink", "gateway": "gateway", "promoter": "promoter", "windows": "agent"}
    assert kafka_role(name) == expected.get(name, "predictor")


def test_the_readme_shows_the_acl_table() -> None:
    assert markdown_table(load_settings()) in README
