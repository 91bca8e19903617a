"""The secrets ``stack up`` generates into local.env, and the private state folder."""

import stat
from pathlib import Path

from cli.settings import load_settings
from plumbing import manifest_signature
from plumbing.settings import KAFKA_ROLES, local_env_file
from stack.local import ensure_local_credentials, missing_lines, new_credentials


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_secret_is_generated_once_into_a_private_file(tmp_path: Path) -> None:
    state = tmp_path / "state"

    first = ensure_local_credentials(load_settings(state_dir=state))
    again = ensure_local_credentials(load_settings(state_dir=state))

    assert _mode(state) == 0o700 and _mode(local_env_file(state)) == 0o600
    for settings in (first, again):
        assert settings.query_token is not None and settings.request_id_key is not None
        assert settings.model_signing_key is not None and settings.admin_token is not None
    assert first.query_token == again.query_token
    assert first.model_signing_key is not None
    private = first.model_signing_key.get_secret_value()
    assert manifest_signature.public_key_of(private) == first.model_verify_key


def test_an_older_local_env_gets_only_what_it_lacks(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    env_file = local_env_file(state)
    kept = {"S3_ACCESS_KEY": "kept", "ADMIN_TOKEN": "also-kept"}
    env_file.write_text("\n".join(f"SPLITSTREAM_{name}={value}" for name, value in kept.items()))

    settings = ensure_local_credentials(load_settings(state_dir=state))

    assert settings.s3_access_key is not None
    assert settings.s3_access_key.get_secret_value() == "kept"
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "also-kept"
    assert settings.query_token is not None and settings.model_verify_key is not None
    assert _mode(state) == 0o700 and _mode(env_file) == 0o600


def test_the_model_key_pair_is_never_split() -> None:
    one_half = "=".join(["SPLITSTREAM_MODEL_VERIFY_KEY", "configured"])

    lines = missing_lines(one_half, new_credentials())

    assert not any(line.startswith("SPLITSTREAM_MODEL_") for line in lines)
    assert any(line.startswith("SPLITSTREAM_QUERY_TOKEN=") for line in lines)


def test_a_local_broker_gets_one_kafka_password_per_principal(tmp_path: Path) -> None:
    settings = ensure_local_credentials(load_settings(state_dir=tmp_path / "state"))

    passwords = {role: settings.kafka_password(role) for role in KAFKA_ROLES}
    assert all(p is not None for p in passwords.values())
    values = [p.get_secret_value() for p in passwords.values() if p is not None]
    assert len(set(values)) == len(KAFKA_ROLES)  # no principal shares another's password
    assert all(len(v) >= 32 and '"' not in v for v in values)  # JAAS lines quote them


def test_an_existing_kafka_gets_no_generated_passwords(tmp_path: Path) -> None:
    external = load_settings(state_dir=tmp_path / "state", kafka_bootstrap_servers="k:9092")

    settings = ensure_local_credentials(external)

    assert all(settings.kafka_password(role) is None for role in KAFKA_ROLES)
    assert "KAFKA_PASSWORD" not in local_env_file(tmp_path / "state").read_text()
