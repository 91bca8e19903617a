"""Pages and headers: the security headers on every answer, trusted hosts, /docs without a CDN."""

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cli.settings import load_settings
from gateway.main import create_app
from gateway.security_headers import CONTENT_SECURITY_POLICY, host_allowed
from gateway.web import STATIC_DIR
from stack.ports import free_port


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = load_settings(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
        s3_access_key="unit",
        s3_secret_key="unit-secret",
        admin_token="a-unit-test-admin-token-long-enough",
        trusted_hosts=["localhost", "*.splitstream.example"],
        request_id_key="k" * 32,
    )
    app = create_app(settings)
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as test:
        yield test


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost", True),
        ("localhost:7000", True),
        ("LOCALHOST:7000", True),
        ("api.splitstream.example", True),
        ("a.b.splitstream.example:443", True),
        ("splitstream.example", False),
        ("evil.example", False),
        ("localhost.evil.example", False),
        ("", False),
        (None, False),
        ("[::1]:7000", False),
        ("localhost:notaport", False),
    ],
)
def test_host_allowed_follows_starlettes_rules(host: str | None, allowed: bool) -> None:
    assert host_allowed(host, ["localhost", "*.splitstream.example"]) is allowed


def test_any_host_when_told_so() -> None:
    assert host_allowed("anything.example", ["*"])


@pytest.mark.parametrize("path", ["/", "/dashboard", "/docs", "/v1/locations", "/nope", "/healthz"])
def test_every_answer_carries_the_security_headers(client: TestClient, path: str) -> None:
    answer = client.get(path)

    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"


def test_an_untrusted_host_gets_400_naming_the_field(client: TestClient) -> None:
    answer = client.get("/v1/locations", headers={"host": "evil.example"})

    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "host"
    assert answer.json()["error"]["allowed"] == ["localhost", "*.splitstream.example"]
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_docs_are_served_from_local_files_with_no_inline_script(client: TestClient) -> None:
    page = client.get("/docs")
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.DOTALL)

    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text
    assert scripts and all('src="/' in attrs and body.strip() == "" for attrs, body in scripts)
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/static/docs.js").status_code == 200
    assert client.get("/openapi.json").json()["openapi"].startswith("3.")
    assert client.get("/redoc").status_code == 404


def test_the_pages_have_no_inline_script_style_or_handler() -> None:
    for page in STATIC_DIR.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.DOTALL)
        assert all("src=" in attrs and not body.strip() for attrs, body in scripts), page
        assert "<style" not in html and " style=" not in html, page
        assert not re.search(r"\son[a-z]+=", html), page
