"""The OpenAPI document, the docs page, and generated requests against both."""

import re

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.keys import create_api_key
from lists.services import create_list
from mailman_site.wsgi import application
from members.services import subscribe
from tests.api_callers import API


@pytest.fixture
def openapi(db) -> dict:
    response = Client().get(f"{API}/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_schema_is_a_valid_openapi_3_document(openapi):
    assert openapi["openapi"].startswith("3.")
    validate_schema(openapi)


def test_schema_generation_has_no_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))


def test_schema_documents_api_key_and_oauth2_authentication(openapi):
    schemes = openapi["components"]["securitySchemes"]
    api_key = schemes["apiKey"]
    assert (api_key["type"], api_key["in"], api_key["name"]) == ("apiKey", "header", "Authorization")
    assert "Api-Key <key>" in api_key["description"]
    assert set(schemes["oauth2"]["flows"]) == {"authorizationCode", "clientCredentials"}
    create = openapi["paths"]["/api/v3/lists/"]["post"]["security"]
    assert {"oauth2": ["write"]} in create and {"apiKey": []} in create


def test_public_list_index_needs_no_credentials_in_the_schema(openapi):
    assert {} in openapi["paths"]["/api/v3/lists/"]["get"]["security"]


def test_docs_page_loads_nothing_from_other_sites(db):
    browser = Client()
    page = browser.get(f"{API}/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assets = re.findall(r"(?:src|href)=\"(/static/[^\"]+)\"", html)
    assert any("swagger-ui" in asset for asset in assets)
    for asset in assets:
        assert browser.get(asset).status_code == 200, asset


@pytest.fixture
def site_admin_key(site_admin, mlist) -> str:
    """A read-write key of a site admin, with a list, a roster and an address to find."""
    subscribe(mlist, "someone@example.org")
    subscribe(create_list("bee@example.com", advertised=False), "someone@example.org")
    return create_api_key(site_admin, name="fuzz", scope="read-write")[1]


pytest_plugins = ["tests.mail_fixtures"]

# Loaded when the module is collected: serving the schema touches no database.
fuzzed = schemathesis.openapi.from_wsgi(f"{API}/schema/", application)
fuzzed.config.generation.update(max_examples=25)
# Real objects in the path, so that generated bodies and queries reach the
# code behind the lookup (hostile lookups are in test_api_errors).
fuzzed.config.update(
    parameters={"path.list_id": "ant.example.com", "path.mail_host": "example.com", "path.email": "someone@example.org"}
)


@pytest.fixture
def wsgi_keeps_test_connection():
    """Stop the WSGI app closing the database connection after each request,
    as Django's test client does: on PostgreSQL that would end the test's
    transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@fuzzed.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_never_get_a_server_error(case, site_admin_key, wsgi_keeps_test_connection, smtp_sink):
    # smtp_sink: the confirmation mails of generated subscriptions reach a real SMTP server.
    response = case.call(headers={"Authorization": f"Api-Key {site_admin_key}"})
    case.validate_response(response, checks=[not_a_server_error])
