"""A data subject's records (AVG art. 15), found by pseudonym under every key version
and recorded as ``audit.subject`` with the number found, never the identity."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import RowMapping

from hitmachine.core.auditlog.record import Outcome
from hitmachine.core.errors import HitmachineError
from hitmachine.core.identity import Identity
from hitmachine.core.keystore import load_keyring
from hitmachine.core.principal import Principal
from hitmachine.services.audit._common import record_action
from hitmachine.services.context import Context
from hitmachine.store import audit_tree


def subject_records(ctx: Context, principal: Principal, identity: Identity,
                    request_id: str, *, via: str = "web") -> list[RowMapping]:
    """Every record about this person (AVG art. 15), oldest first: the identity is
    pseudonymised under every key version and only exact pseudonym matches are kept.
    The look-up is recorded with the number found, never the identity."""
    wanted = subject_pseudonyms(ctx, identity)
    hexes = sorted({h for _, h in wanted})
    with ctx.db.read() as conn:
        candidates = audit_tree.find_by_subject(conn, hexes)
    found = [r for r in candidates if _mentions(r["subjects"], wanted)]
    record_action(ctx, principal, "audit.subject", request_id,
           {"records": len(found), "key_versions": sorted({v for v, _ in wanted}), "via": via},
           outcome=Outcome.OK)
    return found


def record_subject_refused(ctx: Context, principal: Principal, request_id: str,
                           fields: Iterable[str], *, via: str = "web") -> None:
    """Record a data-subject look-up refused for bad input (``audit.subject``, invalid):
    the fields named, never their values."""
    record_action(ctx, principal, "audit.subject", request_id,
           {"status": 422, "via": via, "fields": sorted(fields)}, outcome=Outcome.INVALID)


def subject_pseudonyms(ctx: Context, identity: Identity) -> set[tuple[int, str]]:
    """(key version, hex digest) under every version the keyring holds, retired ones too:
    a record made under a key that has since been retired still concerns the person."""
    pseudonymiser = ctx.pseudonymiser
    versions = set(pseudonymiser.active_versions)
    try:
        versions |= {v.version for v in load_keyring(ctx.settings.keyring_path).versions}
    except HitmachineError:
        pass  # another scheme (a key service) holds the keys: its versions are enough
    out: set[tuple[int, str]] = set()
    for version in sorted(versions):
        try:
            ps = pseudonymiser.pseudonymise([identity], version)[0]
        except HitmachineError:
            continue
        for digest in (ps.bsn, ps.name):
            if digest is not None:
                out.add((version, digest.hex()))
    return out


def _mentions(subjects_json: str, wanted: set[tuple[int, str]]) -> bool:
    try:
        subjects = json.loads(subjects_json or "[]")
    except ValueError:
        return False
    for s in subjects if isinstance(subjects, list) else []:
        if isinstance(s, dict) and any((s.get("key_version"), s.get(k)) in wanted
                                       for k in ("bsn", "name")):
            return True
    return False


__all__ = ["record_subject_refused", "subject_pseudonyms", "subject_records"]
