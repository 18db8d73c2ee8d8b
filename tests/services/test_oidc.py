"""Single sign-on (``hitmachine.services.oidc``) against an identity provider simulated in
process (``httpx.MockTransport``) with real keys: the claim -> role mapping, every check on
the ID token, key rotation, PKCE as the provider sees it, and the accounts and audit
records on both databases. The whole flow in Chromium against a real provider process is
tests/web/test_sso_browser.py."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from hitmachine.core.errors import Conflict, Unavailable
from hitmachine.core.principal import Role
from hitmachine.services import admin, oidc, users
from hitmachine.services.context import Context
from hitmachine.services.oidc import SignInRefused
from hitmachine.settings import Settings
from tests.web.util import records

ISSUER = "https://idp.gemeente.example"
CLIENT_ID = "hitmachine"
SECRET = "geheim+met/tekens"
ROLES = {"hm-coordinatoren": "coordinator", "hm-privacy": "privacy-officer",
         "hm-beheer": "admin"}
OIDC = {"oidc_issuer": ISSUER, "oidc_client_id": CLIENT_ID,
        "oidc_public_url": "https://hitmachine.gemeente.example", "oidc_roles": ROLES}


class FakeIdP:
    """Discovery, JWKS and a token endpoint that checks the PKCE verifier (S256)."""

    def __init__(self) -> None:
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "k1"})]
        self.signing = self.keys[0]
        self.fetches: dict[str, int] = {}
        self.issuer = ISSUER
        self.challenge: str | None = None
        self.claims: dict[str, Any] = {}
        self.nonce: str | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.fetches[path] = self.fetches.get(path, 0) + 1
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": self.issuer, "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks",
                "end_session_endpoint": f"{ISSUER}/logout",
                "id_token_signing_alg_values_supported": ["RS256"]})
        if path == "/jwks":
            return httpx.Response(200, json={"keys": [k.as_dict(private=False)
                                                      for k in self.keys]})
        if path == "/token":
            form = parse_qs(request.content.decode())
            verifier = form["code_verifier"][0]
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != self.challenge:
                return httpx.Response(400, json={"error": "invalid_grant"})
            # The client authenticates with its secret (client_secret_basic; both parts
            # form-encoded first, RFC 6749 section 2.3.1).
            scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
            user, _, password = base64.b64decode(encoded).decode().partition(":")
            if scheme != "Basic" or (unquote_plus(user), unquote_plus(password)) \
                    != (CLIENT_ID, SECRET):
                return httpx.Response(401, json={"error": "invalid_client"})
            return httpx.Response(200, json={"access_token": "x", "token_type": "Bearer",
                                             "id_token": self.token(nonce=self.nonce,
                                                                    **self.claims)})
        return httpx.Response(404)

    def token(self, *, key: Any = None, alg: str = "RS256", kid: str | None = None,
              **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "sub": "s-1", "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                "preferred_username": "Cora Centraal", "groups": ["hm-coordinatoren"]}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        key = key or self.signing
        header = {"alg": alg, "kid": kid if kid is not None else key.kid or "k0"}
        return jwt.encode(header, body, key, algorithms=[alg])


@pytest.fixture
def idp() -> FakeIdP:
    return FakeIdP()


def _provider(idp: FakeIdP, secret: Path | None = None) -> oidc.Provider:
    settings = Settings(**OIDC, oidc_client_secret_file=secret)  # type: ignore[arg-type]
    return oidc.Provider(settings, httpx.Client(transport=httpx.MockTransport(idp.handle)))


@pytest.fixture
def provider(idp: FakeIdP, tmp_path: Path) -> oidc.Provider:
    secret = tmp_path / "client.secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    return _provider(idp, secret)


@pytest.fixture
def sso(settings: Settings) -> Iterator[Context]:
    context = Context.from_settings(settings.model_copy(update=OIDC))
    yield context
    context.close()


# --- the claims ---------------------------------------------------------------------------

@pytest.mark.parametrize(("claim", "expected"), [
    (["hm-coordinatoren", "iedereen"], {Role.COORDINATOR}),
    ("hm-privacy", {Role.PRIVACY_OFFICER}),
    (["hm-beheer", "hm-coordinatoren"], {Role.ADMIN, Role.COORDINATOR}),
    (["marketing"], set()),
    ([], set()),
    (None, set()),
    ({"hm-beheer": True}, set()),     # not a string or a list of strings
    ([["hm-beheer"]], set()),
    (["HM-BEHEER"], set()),           # values compare exactly, as the provider sends them
])
def test_claim_values_map_to_roles(claim: Any, expected: set[Role]) -> None:
    assert oidc.roles_from_claims({"groups": claim}, "groups", ROLES) == expected


def test_one_role_or_refused() -> None:
    assert oidc.role_from_claims({"roles": "hm-beheer"}, "roles", ROLES) is Role.ADMIN
    with pytest.raises(SignInRefused) as none:
        oidc.role_from_claims({"groups": ["hm-beheer"]}, "roles", ROLES)  # another claim
    assert none.value.reason == "no_role"
    with pytest.raises(SignInRefused) as two:
        oidc.role_from_claims({"groups": ["hm-beheer", "hm-privacy"]}, "groups", ROLES)
    assert two.value.reason == "ambiguous_role"


@pytest.mark.parametrize(("value", "reason"), [
    (None, "no_name"), ("  ", "no_name"), (42, "no_name"),
    ("Jan\u0000Jansen", "name_unusable"), ("console", "name_unusable"),
    ("medewerker 111222333", "name_unusable"),   # a BSN would be in every audit record
])
def test_an_unusable_account_name_is_refused(value: Any, reason: str) -> None:
    with pytest.raises(SignInRefused) as refused:
        oidc.account_name({"preferred_username": value}, "preferred_username")
    assert refused.value.reason == reason


def test_the_account_name_is_cleaned_like_any_other() -> None:
    assert oidc.account_name({"n": "  Cora   Centraal "}, "n") == "Cora Centraal"


# --- the ID token -------------------------------------------------------------------------

BINDING = "b" * 43


def test_a_genuine_token_verifies(idp: FakeIdP, provider: oidc.Provider) -> None:
    claims = provider.verify(idp.token(nonce=oidc.nonce_for(BINDING)), BINDING)
    assert claims["preferred_username"] == "Cora Centraal"


def _refusal(provider: oidc.Provider, token: str) -> str:
    with pytest.raises(SignInRefused) as refused:
        provider.verify(token, BINDING)
    return refused.value.reason


def test_every_check_on_the_token(idp: FakeIdP, provider: oidc.Provider) -> None:
    nonce = oidc.nonce_for(BINDING)
    impostor = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same kid, other key
    now = int(time.time())
    cases = {
        "bad_signature": idp.token(nonce=nonce, key=impostor),
        "wrong_issuer": idp.token(nonce=nonce, iss="https://idp.elders.example"),
        "wrong_audience": idp.token(nonce=nonce, aud="een-andere-app"),
        "token_expired": idp.token(nonce=nonce, iat=now - 900, exp=now - 600),
        "wrong_nonce": idp.token(nonce=oidc.nonce_for("c" * 43)),
        "unknown_key": idp.token(nonce=nonce, kid="k9"),
        # Signed with a shared secret (what an attacker who knows ours would do): refused
        # before any key is looked at, as is an unsigned token.
        "bad_algorithm": idp.token(nonce=nonce, alg="HS256",
                                   key=OctKey.import_key("s" * 32)),
        "invalid_token": "not.a.token",
    }
    for reason, token in cases.items():
        assert _refusal(provider, token) == reason, reason
    missing_nonce = idp.token(nonce=None)
    assert _refusal(provider, missing_nonce) == "wrong_nonce"
    missing_exp = idp.token(nonce=nonce, exp=None)
    assert _refusal(provider, missing_exp) == "invalid_token"
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps(
        {"iss": ISSUER, "aud": CLIENT_ID, "sub": "s", "nonce": nonce, "exp": now + 60,
         "iat": now}).encode()).rstrip(b"=").decode()
    assert _refusal(provider, f"{header}.{payload}.") == "bad_algorithm"


def test_several_audiences_need_azp_naming_us(idp: FakeIdP, provider: oidc.Provider) -> None:
    nonce = oidc.nonce_for(BINDING)
    both = [CLIENT_ID, "een-andere-app"]
    assert _refusal(provider, idp.token(nonce=nonce, aud=both)) == "wrong_audience"
    assert _refusal(provider, idp.token(nonce=nonce, aud=both, azp="een-andere-app")) \
        == "wrong_audience"
    provider.verify(idp.token(nonce=nonce, aud=both, azp=CLIENT_ID), BINDING)


def test_a_rotated_key_is_fetched_once(idp: FakeIdP, provider: oidc.Provider) -> None:
    nonce = oidc.nonce_for(BINDING)
    provider.verify(idp.token(nonce=nonce), BINDING)
    assert idp.fetches["/jwks"] == 1
    provider.verify(idp.token(nonce=nonce), BINDING)
    assert idp.fetches["/jwks"] == 1  # cached
    idp.keys.append(RSAKey.generate_key(2048, parameters={"kid": "k2"}))
    idp.signing = idp.keys[1]
    # The cached set lacks k2: fetched again (but not more often than once a minute).
    provider._keys = (time.monotonic() - oidc.JWKS_REFETCH_SECONDS - 1, provider._keys[1])  # type: ignore[index]
    provider.verify(idp.token(nonce=nonce), BINDING)
    assert idp.fetches["/jwks"] == 2
    assert _refusal(provider, idp.token(nonce=nonce, kid="k7")) == "unknown_key"
    assert idp.fetches["/jwks"] == 2  # a token naming a made-up key cannot make us fetch
    assert idp.fetches["/.well-known/openid-configuration"] == 1


def test_discovery_must_name_the_configured_issuer(idp: FakeIdP) -> None:
    idp.issuer = "https://idp.elders.example"
    with pytest.raises(Unavailable):
        _provider(idp).metadata()


def test_an_unreachable_provider_is_unavailable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    settings = Settings(**OIDC)  # type: ignore[arg-type]
    provider = oidc.Provider(settings, httpx.Client(transport=httpx.MockTransport(down)))
    with pytest.raises(Unavailable):
        provider.metadata()


def test_sign_out_goes_to_the_end_session_endpoint(provider: oidc.Provider) -> None:
    url = provider.end_session_url()
    assert url is not None and url.startswith(f"{ISSUER}/logout?")
    query = parse_qs(urlsplit(url).query)
    assert query == {"client_id": [CLIENT_ID], "post_logout_redirect_uri": [
        "https://hitmachine.gemeente.example/aanmelden?reden=afgemeld"]}


# --- the flow, the accounts and the audit log (both databases) -----------------------------

def _start(sso: Context, idp: FakeIdP, provider: oidc.Provider) -> tuple[str, str]:
    """begin(): the state the provider got, and the browser's binding secret."""
    started = oidc.begin(sso, provider, None)
    query = parse_qs(urlsplit(started.url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == ["https://hitmachine.gemeente.example/aanmelden/sso/terug"]
    idp.challenge = query["code_challenge"][0]
    idp.nonce = query["nonce"][0]
    return query["state"][0], started.binding


def _complete(sso: Context, provider: oidc.Provider, state: str, binding: str | None,
              **extra: Any) -> oidc.Completed:
    return oidc.complete(sso, provider, state=state, code="de-code", error=extra.get("error"),
                         binding=binding, request_id="rid")


def test_first_sign_in_makes_an_external_account_and_audits_it(
        sso: Context, idp: FakeIdP, provider: oidc.Provider) -> None:
    state, binding = _start(sso, idp, provider)
    done = _complete(sso, provider, state, binding)
    assert done.user.name == "Cora Centraal" and done.user.role is Role.COORDINATOR
    assert done.user.password_hash is None and oidc.is_external(sso, done.user)
    [created] = records(sso, "user.create")
    assert created["detail"] == {"user_id": done.user.id, "name": "Cora Centraal",
                                 "role": "coordinator", "method": "oidc",
                                 "actor_id": f"user:{done.user.id}"}
    # The state is single use: the same callback again is refused, and audited.
    with pytest.raises(SignInRefused) as replay:
        _complete(sso, provider, state, binding)
    assert replay.value.reason == "unknown_state"
    [refused] = records(sso, "auth.signin_failed")
    assert refused["detail"] == {"method": "oidc", "reason": "unknown_state"}
    # Nothing the provider identifies the person by is stored or recorded.
    assert "s-1" not in json.dumps(records(sso), default=str)
    # No password can be given to it: that would be a way in the provider cannot close.
    with pytest.raises(Conflict):
        users.set_password(sso, admin.CONSOLE, "Cora Centraal", "een-lang-wachtwoord", "rid")


def test_the_role_follows_the_provider(sso: Context, idp: FakeIdP,
                                       provider: oidc.Provider) -> None:
    state, binding = _start(sso, idp, provider)
    first = _complete(sso, provider, state, binding).user
    idp.claims = {"groups": ["hm-privacy"], "preferred_username": "Cora C. (nieuw)"}
    state, binding = _start(sso, idp, provider)
    again = _complete(sso, provider, state, binding).user
    assert again.id == first.id and again.role is Role.PRIVACY_OFFICER
    assert again.name == "Cora Centraal"  # the actor's name stays what the records say
    [changed] = records(sso, "user.role")
    assert changed["detail"]["was"] == "coordinator"
    assert changed["detail"]["role"] == "privacy-officer"


def test_refusals_are_audited(sso: Context, idp: FakeIdP, provider: oidc.Provider) -> None:
    # Another browser than the one that started (no or another binding secret).
    state, _ = _start(sso, idp, provider)
    with pytest.raises(SignInRefused) as other:
        _complete(sso, provider, state, "x" * 43)
    assert other.value.reason == "other_browser"
    # The person cancelled at the provider.
    state, binding = _start(sso, idp, provider)
    with pytest.raises(SignInRefused) as cancelled:
        _complete(sso, provider, state, binding, error="access_denied")
    assert cancelled.value.reason == "provider_refused"
    # PKCE: a verifier that does not match the challenge is refused by the provider.
    state, binding = _start(sso, idp, provider)
    idp.challenge = "iets-anders"
    with pytest.raises(SignInRefused) as pkce:
        _complete(sso, provider, state, binding)
    assert pkce.value.reason == "token_refused"
    idp.challenge = None
    # No mapped group: refused with the (verified) name, no account made.
    idp.claims = {"groups": ["marketing"], "preferred_username": "Nadia Zonderrol"}
    state, binding = _start(sso, idp, provider)
    with pytest.raises(SignInRefused):
        _complete(sso, provider, state, binding)
    reasons = [(r["actor"], r["detail"]) for r in records(sso, "auth.signin_failed")]
    assert reasons == [
        ("anonymous", {"method": "oidc", "reason": "other_browser"}),
        ("anonymous", {"method": "oidc", "reason": "provider_refused"}),
        ("anonymous", {"method": "oidc", "reason": "token_refused"}),
        ("anonymous", {"method": "oidc", "reason": "no_role", "name": "Nadia Zonderrol"}),
    ]
    assert not records(sso, "user.create")


def test_a_taken_name_is_refused_not_merged(sso: Context, idp: FakeIdP,
                                            provider: oidc.Provider) -> None:
    users.create_user(sso, admin.CONSOLE, name="cora centraal", role=Role.ADMIN,
                      password="een-lang-wachtwoord", request_id="rid")
    state, binding = _start(sso, idp, provider)
    with pytest.raises(SignInRefused) as taken:
        _complete(sso, provider, state, binding)
    assert taken.value.reason == "name_taken"
    # A token's name is the same namespace.
    admin.create_token(sso, admin.CONSOLE, name="Pieter Privacy", role=Role.COORDINATOR,
                       agency=None, expires_at=None, request_id="rid")
    idp.claims = {"sub": "s-2", "preferred_username": "Pieter Privacy"}
    state, binding = _start(sso, idp, provider)
    with pytest.raises(SignInRefused) as token:
        _complete(sso, provider, state, binding)
    assert token.value.reason == "name_taken"


def test_a_disabled_account_stays_out(sso: Context, idp: FakeIdP,
                                      provider: oidc.Provider) -> None:
    state, binding = _start(sso, idp, provider)
    user = _complete(sso, provider, state, binding).user
    users.set_disabled(sso, admin.CONSOLE, user.name, True, "rid")
    state, binding = _start(sso, idp, provider)
    with pytest.raises(SignInRefused) as refused:
        _complete(sso, provider, state, binding)
    assert refused.value.reason == "disabled"
    [record] = records(sso, "auth.signin_failed")
    assert record["actor"] == "Cora Centraal"


def test_an_issuer_with_a_trailing_slash_is_kept_as_written(idp: FakeIdP) -> None:
    idp.issuer = ISSUER + "/"
    settings = Settings(**{**OIDC, "oidc_issuer": ISSUER + "/"})  # type: ignore[arg-type]
    provider = oidc.Provider(settings, httpx.Client(transport=httpx.MockTransport(idp.handle)))
    assert provider.metadata().issuer == ISSUER + "/"
    assert idp.fetches == {"/.well-known/openid-configuration": 1}
    # A token naming the issuer without the slash is someone else's.
    token = idp.token(nonce=oidc.nonce_for(BINDING))
    with pytest.raises(SignInRefused) as refused:
        provider.verify(token, BINDING)
    assert refused.value.reason == "wrong_issuer"
    provider.verify(idp.token(nonce=oidc.nonce_for(BINDING), iss=ISSUER + "/"), BINDING)
