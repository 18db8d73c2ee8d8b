"""Single sign-on with the municipality's identity provider (OpenID Connect, issue 17).

The authorization code flow with PKCE (S256), for the web pages only (docs/sso.md):

1. ``begin`` stores a sign-in attempt and returns the provider's authorization URL. The
   attempt is two random values: ``state`` (sent to the provider, comes back on the
   callback) and a *binding* secret that stays in the browser (cookie ``hm_sso``). The
   database keeps only the SHA-256 of each; the ``nonce`` and the PKCE ``code_verifier`` are
   derived from the binding secret (HMAC), so neither is stored anywhere, and a callback
   opened in another browser than the one that started cannot complete.
2. ``complete`` takes the attempt (deleting it: a replayed or unknown state is refused),
   checks the browser's binding secret, exchanges the code (with the verifier) at the token
   endpoint, and verifies the ID token: signature against the provider's published keys
   (JWKS), algorithm, issuer, audience (and ``azp`` when there are several), expiry and the
   nonce. Its claims then give the role (``oidc_role_claim`` through ``oidc_roles``) and the
   account name (``oidc_name_claim``).
3. The person's web account: found by the SHA-256 of issuer and subject, or created on the
   first sign-in, marked external (a row in ``oidc_identities``) and without a password, so
   it can never sign in with one. Its name is the one namespace of accounts and tokens
   (``store.tokens.ensure_name_free``): a provider name that is already a local account or
   a token is refused, not merged, so that nobody at the provider can take over a local
   account by choosing its name. The role follows the provider at every sign-in.

The session then starts as after a password (``hitmachine.http.web.sessions.start``, audited
``auth.signin`` with ``method: oidc``). Every refusal is audited ``auth.signin_failed`` with
the reason, here, in the use case; the subject identifier (``sub``) is never recorded, only
the account name when the token was genuine and the name is usable.

Authlib builds the authorization request and the PKCE challenge and the token request
body (RFC 6749, RFC 7636); joserfc, its JOSE library, verifies the ID token. Network calls
(discovery, JWKS, token) are the project's own blocking ``httpx`` calls with a timeout: callers
run them off the event loop (the web routes are plain ``def``). The provider's discovery
document is cached for an hour, its keys until a token names a key id they lack (key
rotation): then they are fetched again, at most once a minute.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped]
    prepare_grant_uri,
    prepare_token_request,
)
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, JoseError
from joserfc.jwk import Key, KeySet

from hitmachine.core import text
from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.core.clock import iso_utc, parse_iso_utc, utc_now
from hitmachine.core.errors import Conflict, InvalidInput, Unavailable
from hitmachine.core.files import read_secret_file
from hitmachine.core.principal import ANONYMOUS, Principal, Role
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from hitmachine.store import audit_log
from hitmachine.store import oidc as store
from hitmachine.store import users as user_store
from hitmachine.store.users import User

METHOD = "oidc"
CALLBACK_PATH = "/aanmelden/sso/terug"
SIGNED_OUT_PATH = "/aanmelden?reden=afgemeld"
ATTEMPT_MINUTES = 10
DISCOVERY_SECONDS = 3600
JWKS_REFETCH_SECONDS = 60
HTTP_TIMEOUT = httpx.Timeout(10.0)
# Asymmetric only: an HS* token would be "signed" with our own client secret, and "none"
# is no signature at all.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                      "ES512", "EdDSA")
CLOCK_LEEWAY_SECONDS = 60


class SignInRefused(Exception):
    """The sign-in was refused (and audited); ``reason`` is the audit record's."""

    def __init__(self, reason: str, user_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.user_id = user_id  # the linked account, when it is known


# --- the claims ---------------------------------------------------------------------------

def roles_from_claims(claims: Mapping[str, Any], claim: str,
                      mapping: Mapping[str, str]) -> set[Role]:
    """The roles the claim's values map to. The claim may be one string or a list of
    strings (Keycloak's and Azure AD's groups and roles are lists); anything else maps to
    nothing, and so do values the mapping does not name."""
    value = claims.get(claim)
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return {Role(mapping[v]) for v in values if isinstance(v, str) and v in mapping}


def role_from_claims(claims: Mapping[str, Any], claim: str, mapping: Mapping[str, str]) -> Role:
    """The one role the claims give; ``SignInRefused`` (not yet audited) when they give
    none, or more than one: the roles separate duties (the privacy officer checks what
    coordinators and administrators do), so one person holds one of them."""
    roles = roles_from_claims(claims, claim, mapping)
    if not roles:
        raise SignInRefused("no_role")
    if len(roles) > 1:
        raise SignInRefused("ambiguous_role")
    return roles.pop()


def account_name(claims: Mapping[str, Any], claim: str) -> str:
    """The account name from the claims, checked like any account name, and never one that
    holds a BSN (it would be recorded in every audit record of its holder)."""
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip():
        raise SignInRefused("no_name")
    try:
        name = text.check_name("name", value)
    except InvalidInput:
        raise SignInRefused("name_unusable") from None
    if text.contains_bsn(name):
        raise SignInRefused("name_unusable")
    return name


def subject_key(issuer: str, subject: str) -> bytes:
    return hashlib.sha256(issuer.encode() + b"\0" + subject.encode()).digest()


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "replace")).digest()


def _derived(binding: str, purpose: str) -> str:
    """A value derived from the browser's binding secret (43 characters of base64url, in
    the verifier's alphabet and length range of RFC 7636)."""
    mac = hmac.new(binding.encode(), purpose.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def nonce_for(binding: str) -> str:
    return _derived(binding, "nonce")


def verifier_for(binding: str) -> str:
    return _derived(binding, "pkce")


# --- the provider -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    algorithms: tuple[str, ...]


class Provider:
    """The identity provider as configured: its discovery document and keys, cached for
    the process (every worker has its own)."""

    def __init__(self, settings: Settings, http: httpx.Client | None = None) -> None:
        assert settings.oidc_issuer and settings.oidc_client_id and settings.oidc_public_url
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.redirect_uri = settings.oidc_public_url + CALLBACK_PATH
        self.post_logout_uri = settings.oidc_public_url + SIGNED_OUT_PATH
        self.scopes = settings.oidc_scopes
        self._secret_file = settings.oidc_client_secret_file
        self._http = http or httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False)
        self._lock = threading.Lock()
        self._metadata: tuple[float, Metadata] | None = None
        self._keys: tuple[float, KeySet] | None = None

    def client_secret(self) -> str | None:
        # Read when used, not kept: a rotated secret file takes effect without a restart.
        if self._secret_file is None:
            return None
        return read_secret_file(self._secret_file).strip()

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError:
            raise Unavailable("the identity provider cannot be reached") from None
        if response.status_code != 200:
            raise Unavailable(f"the identity provider answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise Unavailable("the identity provider answered something that is not JSON")
        return body

    def metadata(self) -> Metadata:
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata[0] \
                    < DISCOVERY_SECONDS:
                return self._metadata[1]
        doc = self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
        # OpenID Connect Discovery 1.0, section 4.3: the document's issuer must be exactly
        # the one configured, or its tokens would be checked against the wrong name.
        if doc.get("issuer") != self.issuer:
            raise Unavailable("the identity provider's discovery document names another issuer")
        fields = ("authorization_endpoint", "token_endpoint", "jwks_uri")
        if not all(isinstance(doc.get(f), str) for f in fields):
            raise Unavailable("the identity provider's discovery document is incomplete")
        offered = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = tuple(a for a in offered if a in SIGNING_ALGORITHMS)
        if not algorithms:
            raise Unavailable("the identity provider signs with no algorithm we accept")
        end = doc.get("end_session_endpoint")
        found = Metadata(self.issuer, doc["authorization_endpoint"], doc["token_endpoint"],
                         doc["jwks_uri"], end if isinstance(end, str) else None, algorithms)
        with self._lock:
            self._metadata = (time.monotonic(), found)
        return found

    def _key_set(self, *, refresh: bool) -> KeySet:
        with self._lock:
            cached = self._keys
        if cached is not None and (not refresh or time.monotonic() - cached[0]
                                   < JWKS_REFETCH_SECONDS):
            return cached[1]
        doc = self._get_json(self.metadata().jwks_uri)
        try:
            keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]  # checked by import
        except (JoseError, ValueError, TypeError, KeyError):
            raise Unavailable("the identity provider's key set cannot be read") from None
        with self._lock:
            self._keys = (time.monotonic(), keys)
        return keys

    def key_for(self, kid: str | None) -> Key:
        """The provider's key with this id; after a key rotation the new key is not in the
        cached set, so an unknown id fetches the set again (at most once a minute)."""
        for refresh in (False, True):
            keys = self._key_set(refresh=refresh)
            try:
                return keys.get_by_kid(kid)
            except (JoseError, ValueError):
                continue
        raise SignInRefused("unknown_key")

    def authorization_url(self, state: str, binding: str) -> str:
        return str(prepare_grant_uri(
            self.metadata().authorization_endpoint, self.client_id, "code",
            redirect_uri=self.redirect_uri, scope=self.scopes, state=state,
            code_challenge=create_s256_code_challenge(verifier_for(binding)),
            code_challenge_method="S256", nonce=nonce_for(binding)))

    def exchange(self, code: str, binding: str) -> str:
        """The ID token for ``code`` from the token endpoint: the client authenticated with
        its secret (``client_secret_basic``; a public client sends only its id), and the
        PKCE verifier."""
        body = str(prepare_token_request("authorization_code", redirect_uri=self.redirect_uri,
                                         code=code, code_verifier=verifier_for(binding)))
        secret = self.client_secret()
        if secret is None:
            body += "&" + urlencode({"client_id": self.client_id})
        # RFC 6749 section 2.3.1: id and secret are form-encoded before the Basic scheme.
        auth: httpx.BasicAuth | httpx._client.UseClientDefault = httpx.USE_CLIENT_DEFAULT
        if secret:
            auth = httpx.BasicAuth(quote(self.client_id, safe=""), quote(secret, safe=""))
        try:
            response = self._http.post(
                self.metadata().token_endpoint, content=body, auth=auth,
                headers={"Content-Type": "application/x-www-form-urlencoded",
                         "Accept": "application/json"})
        except httpx.HTTPError:
            raise Unavailable("the identity provider cannot be reached") from None
        if response.status_code >= 500:
            raise Unavailable(f"the identity provider answered {response.status_code}")
        try:
            token = response.json()
        except ValueError:
            token = None
        if response.status_code != 200 or not isinstance(token, dict):
            raise SignInRefused("token_refused")
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefused("no_id_token")
        return id_token

    def verify(self, id_token: str, binding: str, now: int | None = None) -> dict[str, Any]:
        """The ID token's claims, once its signature, algorithm, issuer, audience, expiry
        and nonce are right (OpenID Connect Core 1.0, section 3.1.3.7)."""
        metadata = self.metadata()
        try:
            header = jws.extract_compact(id_token.encode()).headers()
        except (JoseError, ValueError):
            raise SignInRefused("invalid_token") from None
        algorithm = header.get("alg")
        if algorithm not in metadata.algorithms:
            raise SignInRefused("bad_algorithm")
        kid = header.get("kid")
        key = self.key_for(kid if isinstance(kid, str) else None)
        try:
            token = jwt.decode(id_token, key, algorithms=[str(algorithm)])
        except BadSignatureError:
            raise SignInRefused("bad_signature") from None
        except (JoseError, ValueError):
            raise SignInRefused("invalid_token") from None
        claims = token.claims
        registry = jwt.JWTClaimsRegistry(
            now=now, leeway=CLOCK_LEEWAY_SECONDS,
            iss={"essential": True, "value": self.issuer},
            sub={"essential": True}, exp={"essential": True}, iat={"essential": True})
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise SignInRefused("token_expired") from None
        except JoseError as exc:
            claim = getattr(exc, "claim", "")
            raise SignInRefused("wrong_issuer" if claim == "iss" else "invalid_token") from None
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or self.client_id not in audiences:
            raise SignInRefused("wrong_audience")
        # Section 3.1.3.7 items 4 and 5: with other audiences beside us, azp names us.
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise SignInRefused("wrong_audience")
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce, nonce_for(binding)):
            raise SignInRefused("wrong_nonce")
        return claims

    def end_session_url(self) -> str | None:
        """Where to send a signed-out browser to end the provider's session too (RP-Initiated
        Logout 1.0), if the provider has such an endpoint."""
        end = self.metadata().end_session_endpoint
        if end is None:
            return None
        query = urlencode({"client_id": self.client_id,
                           "post_logout_redirect_uri": self.post_logout_uri})
        return f"{end}{'&' if '?' in end else '?'}{query}"


_providers: dict[tuple[object, ...], Provider] = {}
_providers_lock = threading.Lock()


def provider(settings: Settings) -> Provider | None:
    """The configured provider (one per process and configuration), or None without one."""
    if not (settings.oidc_issuer and settings.oidc_client_id):
        return None
    key = (settings.oidc_issuer, settings.oidc_client_id, settings.oidc_public_url,
           settings.oidc_scopes, settings.oidc_client_secret_file)
    with _providers_lock:
        if key not in _providers:
            _providers[key] = Provider(settings)
        return _providers[key]


# --- the use cases ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Started:
    url: str       # the provider's authorization URL, to send the browser to
    binding: str   # the browser's secret, for the cookie


def begin(ctx: Context, idp: Provider, next_path: str | None) -> Started:
    """Store a new sign-in attempt (and forget those that ran out)."""
    state, binding = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    url = idp.authorization_url(state, binding)  # discovery first: unreachable, nothing stored
    moment = utc_now()
    with ctx.db.write() as conn:
        store.purge_attempts(conn, iso_utc(moment - dt.timedelta(minutes=ATTEMPT_MINUTES)))
        store.save_attempt(conn, state_hash=_digest(state), binding_hash=_digest(binding),
                           next_path=next_path, now=iso_utc(moment))
    return Started(url, binding)


@dataclass(frozen=True, slots=True)
class Completed:
    user: User
    next_path: str | None


def complete(ctx: Context, idp: Provider, *, state: str | None, code: str | None,
             error: str | None, binding: str | None, request_id: str) -> Completed:
    """The web account the callback signs in, or ``SignInRefused`` (audited here)."""
    name: str | None = None
    try:
        attempt = None
        if state and len(state) <= 256:
            with ctx.db.write() as conn:
                attempt = store.take_attempt(conn, _digest(state))
        if attempt is None:
            raise SignInRefused("unknown_state")  # never issued, used already, or purged
        if not binding or not hmac.compare_digest(_digest(binding), attempt.binding_hash):
            raise SignInRefused("other_browser")
        if parse_iso_utc(attempt.created_at) < utc_now() - dt.timedelta(minutes=ATTEMPT_MINUTES):
            raise SignInRefused("attempt_expired")
        if error is not None or not code:
            # The provider's own refusal (the person cancelled, or is not allowed there).
            raise SignInRefused("provider_refused")
        claims = idp.verify(idp.exchange(code, binding), binding)
        name = account_name(claims, ctx.settings.oidc_name_claim)
        role = role_from_claims(claims, ctx.settings.oidc_role_claim, ctx.settings.oidc_roles)
        user = _account(ctx, idp.issuer, str(claims["sub"]), name, role, request_id)
        return Completed(user, attempt.next_path)
    except Unavailable:
        record_refused(ctx, "provider_unavailable", request_id, name=name)
        raise
    except SignInRefused as refused:
        record_refused(ctx, refused.reason, request_id, name=name, user_id=refused.user_id)
        raise


def _account(ctx: Context, issuer: str, subject: str, name: str, role: Role,
             request_id: str) -> User:
    """The account linked to this subject, its role brought in line with the provider's;
    or a new external account on the first sign-in. Changes audited with them."""
    key = subject_key(issuer, subject)
    now = iso_utc(utc_now())
    with ctx.db.write() as conn:
        user_id = store.find_user_id(conn, key)
        if user_id is not None:
            user = user_store.get(conn, user_id, for_update=True)
            if user.disabled:
                raise SignInRefused("disabled", user.id)
            if user.role is not role:
                was = user.role
                user = user_store.update_user(conn, user.id, role=role.value)
                audit_log.append(conn, [AuditRecord.by(
                    user.principal(), "user.role", request_id, Outcome.OK,
                    detail={"user_id": user.id, "name": user.name, "role": role.value,
                            "was": was.value, "method": METHOD})])
            return user
        try:
            user = user_store.create(conn, name=name, role=role, password_hash=None, now=now)
        except Conflict:
            # A local account or a token has this name: refused, never merged with it.
            raise SignInRefused("name_taken") from None
        store.link(conn, user_id=user.id, subject_key=key, issuer=issuer, now=now)
        audit_log.append(conn, [AuditRecord.by(
            user.principal(), "user.create", request_id, Outcome.OK,
            detail={"user_id": user.id, "name": user.name, "role": role.value,
                    "method": METHOD})])
    return user


def record_refused(ctx: Context, reason: str, request_id: str, *,
                   name: str | None = None, user_id: int | None = None) -> None:
    """Audit a refused single sign-on: the reason, and the account name only when the
    provider vouched for it (a verified token); never the provider's subject. The actor is
    the linked account when there is one (a disabled account), else ``anonymous``: a name
    alone is not who it claims to be (another subject may have asked for a taken name)."""
    detail: dict[str, object] = {"method": METHOD, "reason": reason}
    if name is not None:
        detail["name"] = name
    with ctx.db.write() as conn:
        principal: Principal = ANONYMOUS
        if user_id is not None:
            principal = user_store.get(conn, user_id).principal()
        audit_log.append(conn, [AuditRecord.by(principal, "auth.signin_failed", request_id,
                                               Outcome.DENIED, detail=detail)])


def is_external(ctx: Context, user: User) -> bool:
    with ctx.db.read() as conn:
        return store.is_external(conn, user.id)


__all__ = ["ATTEMPT_MINUTES", "CALLBACK_PATH", "Completed", "METHOD", "Metadata", "Provider",
           "SignInRefused", "Started", "account_name", "begin", "complete", "is_external",
           "nonce_for", "provider", "record_refused", "role_from_claims", "roles_from_claims",
           "subject_key", "verifier_for"]
