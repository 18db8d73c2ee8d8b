"""The single sign-on pages without a browser (both databases): what the sign-in page
offers as configured, a provider that cannot be reached, a callback nobody started, and
password sign-in switched off. The flow itself: tests/web/test_sso_browser.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hitmachine.http.app import create_app
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from hitmachine.store.schema import oidc_attempts
from tests.web.util import csrf, make_accounts, records, sign_in

# Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
OIDC: dict[str, Any] = {
    "oidc_issuer": "http://127.0.0.1:9", "oidc_client_id": "hitmachine",
    "oidc_public_url": "http://testserver", "oidc_provider_name": "Gemeente Voorbeeld",
    "oidc_roles": {"hm-coordinatoren": "coordinator"}}


def _client(settings: Settings, **update: Any) -> Iterator[tuple[TestClient, Context]]:
    context = Context.from_settings(settings.model_copy(update=update))
    with TestClient(create_app(ctx=context), raise_server_exceptions=False) as c:
        yield c, context
    context.close()


@pytest.fixture
def sso(settings: Settings) -> Iterator[tuple[TestClient, Context]]:
    yield from _client(settings, **OIDC)


def test_without_sso_the_page_is_as_before(client: TestClient) -> None:
    page = client.get("/aanmelden")
    assert "Inloggen met" not in page.text and 'name="wachtwoord"' in page.text
    assert client.get("/aanmelden/sso").status_code == 404
    assert client.get("/aanmelden/sso/terug?state=x&code=y").status_code == 404


def test_the_sign_in_page_offers_the_provider(sso: tuple[TestClient, Context]) -> None:
    client, _ = sso
    page = client.get("/aanmelden?volgende=/audit")
    assert 'href="/aanmelden/sso?volgende=/audit"' in page.text
    assert "Inloggen met Gemeente Voorbeeld" in page.text
    assert 'name="wachtwoord"' in page.text  # local accounts still sign in


def test_an_unreachable_provider_is_a_503_page_and_nothing_is_stored(
        sso: tuple[TestClient, Context]) -> None:
    client, context = sso
    page = client.get("/aanmelden/sso", follow_redirects=False)
    assert page.status_code == 503 and "Tijdelijk niet beschikbaar" in page.text
    assert "hm_sso" not in page.headers.get("set-cookie", "")
    with context.db.read() as conn:
        assert conn.execute(oidc_attempts.select()).first() is None


def test_a_callback_nobody_started_is_refused_and_audited(
        sso: tuple[TestClient, Context]) -> None:
    client, context = sso
    for query in ("", "?state=verzonnen&code=x", "?error=access_denied",
                  "?state=" + "x" * 5000):
        page = client.get("/aanmelden/sso/terug" + query)
        assert page.status_code == 400, query
        assert "Aanmelden niet gelukt" in page.text and "auditlog" in page.text
    assert [r["detail"]["reason"] for r in records(context, "auth.signin_failed")] \
        == ["unknown_state"] * 4


def test_password_sign_in_can_be_switched_off(settings: Settings) -> None:
    for client, context in _client(settings, web_password_sign_in=False, **OIDC):
        make_accounts(context)
        page = client.get("/aanmelden")
        assert "Inloggen met Gemeente Voorbeeld" in page.text
        assert 'name="wachtwoord"' not in page.text
        refused = client.post("/aanmelden", data={"csrf_token": "x", "naam": "Cora Coördinator",
                                                  "wachtwoord": "paard-batterij-nietje"})
        assert refused.status_code == 404
        assert not records(context, "auth.signin")


def test_a_local_account_signs_out_as_before(sso: tuple[TestClient, Context]) -> None:
    client, context = sso
    make_accounts(context)
    assert sign_in(client, "coordinator").status_code == 303
    token = csrf(client.get("/zoeken").text)
    out = client.post("/afmelden", data={"csrf_token": token}, follow_redirects=False)
    assert out.headers["location"] == "/aanmelden?reden=afgemeld"
