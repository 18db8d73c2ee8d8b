"""The database schema. Alembic migrations in ``migrations/`` create it; this module is the
reference they are checked against (``tests/store/test_migrations.py``).

Nothing here holds an identity: only pseudonyms (32-byte digests), agency codes, counts,
and the audit trail. Timestamps are ISO-8601 UTC strings with microseconds and a ``Z`` so
that an audit record's canonical bytes are the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a real BIGINT.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

# The generation of an agency's set that readers see. A snapshot commit flips it in one
# row update, which is what makes a snapshot atomic for readers.
agency_sets = Table(
    "agency_sets", metadata,
    Column("agency", String(32), primary_key=True),
    Column("generation", BigInteger, nullable=False),
    Column("key_version", Integer, nullable=True),
    Column("entry_count", BigInteger, nullable=False, default=0),
    Column("updated_at", String(32), nullable=False),
)

syncs = Table(
    "syncs", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("agency", String(32), nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # open | committed | abandoned | expired
    Column("opened_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("closed_at", String(32), nullable=True),
    Column("batch_count", Integer, nullable=False, default=0),
    Column("entry_count", BigInteger, nullable=False, default=0),
    Index(None, "agency", "status"),
)

sync_batches = Table(
    "sync_batches", metadata,
    Column("sync_id", Id, ForeignKey("syncs.id", ondelete="CASCADE"), primary_key=True),
    Column("batch_no", Integer, primary_key=True),
    Column("digest", LargeBinary(32), nullable=False),
    Column("entry_count", Integer, nullable=False),
)

# No primary key on purpose: entries are written in bulk and found through the pseudonym
# indexes; a surrogate key would only cost a third index on a table of millions of rows.
entries = Table(
    "entries", metadata,
    Column("agency", String(32), nullable=False),
    Column("generation", BigInteger, nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("bsn_pseudonym", LargeBinary(32), nullable=True),
    Column("name_pseudonym", LargeBinary(32), nullable=True),
    # The agency's (BSN, birth date): compared after the BSN look-up, so not indexed.
    Column("bsn_birth_pseudonym", LargeBinary(32), nullable=True),
    Index(None, "bsn_pseudonym"),
    Index(None, "name_pseudonym"),
    Index(None, "agency", "generation"),
)

tokens = Table(
    "tokens", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("role", String(32), nullable=False),
    Column("agency", String(32), nullable=True),
    # SHA-256 of the token: tokens carry 256 random bits, so a slow hash adds nothing.
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=True),
    Column("revoked_at", String(32), nullable=True),
    # The comparison form of the name (hitmachine.core.text.name_key): no two live tokens
    # and no token and web account share one (checked under a lock, see store.tokens).
    Column("name_key", String(128), nullable=True),
    # The web account this token was made for: it spends that person's query budget.
    Column("user_id", Id, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Index(None, "name_key"),
)

# One row per audited action. ``id`` is arrival order and may have gaps (a PostgreSQL
# sequence skips on rollback); ``seq`` is the contiguous position in the Merkle tree,
# given by the integrator once the record is sequenced, with its ``leaf_hash``.
audit_records = Table(
    "audit_records", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("seq", BigInteger, nullable=True, unique=True),
    Column("leaf_hash", LargeBinary(32), nullable=True),
    Column("recorded_at", String(32), nullable=False),
    Column("event", String(64), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("role", String(32), nullable=False),
    Column("organisation", String(64), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("purpose", String(32), nullable=True),
    Column("legal_basis", Text, nullable=True),
    Column("case_reference", Text, nullable=True),
    Column("subjects", Text, nullable=False),   # JSON: [{"member": i, "key_version": v, ...}]
    Column("outcome", String(16), nullable=False),
    Column("agencies", Text, nullable=False),   # JSON: sorted agency codes disclosed
    Column("detail", Text, nullable=False),     # JSON: counts, field names; never identifiers
    Column("pruned", Boolean, nullable=False, default=False),
    Index(None, "recorded_at"),
    Index(None, "event"),
    Index(None, "actor"),
)

# --- the audit Merkle tree (issue 4; migration 0002) -------------------------------------
# The integrator finds records still to sequence through this partial index: it stays as
# small as the backlog (about a second of records) however long the log grows.
Index("ix_audit_records_pending", audit_records.c.id,
      sqlite_where=audit_records.c.seq.is_(None),
      postgresql_where=audit_records.c.seq.is_(None))
# Partners ask for the inclusion proof of their own query by its request id.
Index("ix_audit_records_request_id", audit_records.c.request_id)

# One row (id 1): the tree the integrator has built so far. ``compact_range`` is the
# CompactRange state (8-byte size, then one hash per set bit of the size), enough to
# append after a restart without reading old leaves.
audit_tree = Table(
    "audit_tree", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("compact_range", LargeBinary, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

# Signed tree heads (C2SP signed notes). The signing key is in the keys directory, never
# here. Older checkpoints are thinned to one per hour (see hitmachine.services.audit.integrator).
audit_checkpoints = Table(
    "audit_checkpoints", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("size", BigInteger, nullable=False, unique=True),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("key_hash", String(8), nullable=False),
    Column("signed_at", String(32), nullable=False),
    Index(None, "signed_at"),
)

# --- web accounts and sessions (issue 7; migration 0003) ---------------------------------
# People who sign in to the web pages. ``name`` is shown and recorded as the audit actor;
# ``name_key`` (casefolded) is what sign-in looks up. ``password_hash`` is an Argon2id PHC
# string, NULL for an account that signs in elsewhere (a future OIDC provider).
users = Table(
    "users", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("name_key", String(128), nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    Column("password_hash", String(256), nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("password_changed_at", String(32), nullable=True),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until", String(32), nullable=True),
    Column("last_signin_at", String(32), nullable=True),
    Column("disabled_at", String(32), nullable=True),
)

# Server-side web sessions. The cookie holds a random id; only its SHA-256 is stored. The
# CSRF synchronizer token lives here too. ``user_id`` NULL is the pre-session that carries
# the sign-in form's CSRF token; signing in replaces it with a new session (new id).
web_sessions = Table(
    "web_sessions", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("session_hash", LargeBinary(32), nullable=False, unique=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("last_seen_at", String(32), nullable=False),
    Index(None, "user_id"),
    Index(None, "last_seen_at"),
)

# --- single sign-on (issue 17; migration 0007) ---------------------------------------------
# The web account a person signing in with the identity provider is. The provider's subject
# is kept only as SHA-256 of issuer and subject (``subject_key``): some providers use a
# personal number as subject, and the link needs equality, nothing more. An account with a
# row here has no password (it signs in at the provider only).
oidc_identities = Table(
    "oidc_identities", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
           unique=True),
    Column("subject_key", LargeBinary(32), nullable=False, unique=True),
    Column("issuer", String(512), nullable=False),
    Column("created_at", String(32), nullable=False),
)

# Sign-in attempts under way at the provider: the SHA-256 of the ``state`` sent there and of
# the browser's binding secret (the cookie ``hm_sso``, from which nonce and PKCE verifier
# are derived, so neither is stored). Deleted when the callback uses them: single use.
oidc_attempts = Table(
    "oidc_attempts", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("state_hash", LargeBinary(32), nullable=False, unique=True),
    Column("binding_hash", LargeBinary(32), nullable=False),
    Column("next_path", String(64), nullable=True),
    Column("created_at", String(32), nullable=False),
    Index(None, "created_at"),
)

# --- signals and follow-ups (issue 16; migration 0008) -----------------------------------
# A signal is a message to an organisation (an agency code, or ``veiligheidshuis`` for the
# coordinators' inbox): a hit signal tells an agency that a case was asked about one of its
# people, naming that person only by the pseudonyms the agency itself published (in
# ``detail``), which its adapter maps back to its own reference locally. Deleted at
# ``expires_at`` (``signal_expiry_days`` after creation).
signals = Table(
    "signals", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),        # hit | follow_up | partner_query
    Column("recipient", String(64), nullable=False),   # agency code or veiligheidshuis
    Column("sender", String(64), nullable=False),      # the asking organisation
    Column("contact", String(200), nullable=False),    # the sender's contact desk
    Column("purpose", String(32), nullable=False),
    Column("case_reference", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("acked_at", String(32), nullable=True),
    Column("request_id", String(64), nullable=False),
    Column("detail", Text, nullable=False),            # JSON: pseudonyms (hit) or summary
    Index(None, "recipient", "acked_at"),
    Index(None, "expires_at"),
)

# A follow-up (volgvraag): a household query kept open until ``expires_at``. It holds the
# agencies disclosed so far and, per member and key version, the pseudonyms the query
# computed, nothing else: after each publish commit they are joined with the committed set
# (through the two pseudonym indexes) to see whether the household became known elsewhere.
follow_ups = Table(
    "follow_ups", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(36), nullable=False, unique=True),
    Column("owner", String(64), nullable=False),       # the organisation that gets its signals
    Column("actor", String(128), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("case_reference", Text, nullable=False),
    Column("agencies", Text, nullable=False),          # JSON: sorted codes disclosed so far
    Column("opened_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("request_id", String(64), nullable=False),
    Index(None, "owner"),
    Index(None, "expires_at"),
)

follow_up_members = Table(
    "follow_up_members", metadata,
    Column("follow_up_id", Id, ForeignKey("follow_ups.id", ondelete="CASCADE"),
           nullable=False),
    Column("member", Integer, nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("bsn_pseudonym", LargeBinary(32), nullable=True),
    Column("name_pseudonym", LargeBinary(32), nullable=True),
    Column("bsn_birth_pseudonym", LargeBinary(32), nullable=True),
    # JSON: for each age-bounded agency, the first and last local date within the
    # follow-up's life on which its rule allows this member (absent: never). Computed at
    # opening by the query's own policy code, so no birth date is kept.
    Column("windows", Text, nullable=False),
    Index(None, "follow_up_id"),
    Index(None, "bsn_pseudonym"),
    Index(None, "name_pseudonym"),
)

__all__ = ["agency_sets", "audit_records", "entries", "follow_up_members", "follow_ups",
           "metadata", "oidc_attempts", "oidc_identities", "signals", "sync_batches", "syncs",
           "tokens"]
