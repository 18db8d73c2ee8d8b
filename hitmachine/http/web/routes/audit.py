"""The privacy officer's pages: the audit log, its export, verifying the chain, a data
subject's records, the statistics for the PIA, and the processing description for the DPIA
and the processing register. Each of them is itself audited.

Filters travel in the query string (they name staff, events and case references, never
a person); the data-subject form is posted, since it carries an identifier.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.datastructures import QueryParams
from starlette.responses import Response, StreamingResponse

from hitmachine.core.clock import local_today, utc_now
from hitmachine.core.errors import InvalidInput
from hitmachine.core.identity import Identity, normalise_identity
from hitmachine.http.web import auditview
from hitmachine.http.web.deps import PrivacyOfficer
from hitmachine.http.web.errors import WebRoute
from hitmachine.http.web.forms import Errors, iso_date, parse_day
from hitmachine.http.web.render import render
from hitmachine.http.web.texts import (
    EVENTS,
    MEMBER_FIELDS,
    OUTCOMES,
    member_message,
)
from hitmachine.http.web.user import WebUser
from hitmachine.services import audit as audit_service
from hitmachine.store.audit_log import AuditFilter

router = APIRouter(route_class=WebRoute, include_in_schema=False)

_EVENT = re.compile(r"^[a-z_]+(\.[a-z_]*)?$")
EXPORT_FORMATS = {"csv": ("text/csv; charset=utf-8", "csv"),
                  "jsonl": ("application/x-ndjson; charset=utf-8", "jsonl")}
EVENT_GROUPS = (("query.", "Alle vragen"), ("auth.", "Alle aanmeld- en toegangsgebeurtenissen"),
                ("audit.", "Alle handelingen met het auditlog"),
                ("publish.", "Alle publicaties"), ("user.", "Alle accountbeheer"),
                ("token.", "Alle tokenbeheer"), ("key.", "Alle sleutelbeheer"))


# --- filters --------------------------------------------------------------------------

@dataclass
class FilterForm:
    """The filter fields as typed (Dutch names: they are the page's query string)."""

    van: str = ""
    tot: str = ""
    gebruiker: str = ""
    gebeurtenis: str = ""
    doel: str = ""
    zaaknummer: str = ""
    uitkomst: str = ""

    @classmethod
    def from_params(cls, params: QueryParams) -> "FilterForm":
        return cls(**{name: params.get(name, "").strip()[:256]
                      for name in cls.__dataclass_fields__})

    def query(self, **extra: str | int) -> str:
        values = {k: v for k, v in asdict(self).items() if v}
        values.update({k: str(v) for k, v in extra.items()})
        return urlencode(values)

    @property
    def active(self) -> bool:
        return any(asdict(self).values())


def parse_filters(web: WebUser, form: FilterForm) -> tuple[AuditFilter | None, Errors]:
    errors = Errors()
    since = parse_day(form.van, "van", errors)
    until = parse_day(form.tot, "tot", errors)
    if since and until and until < since:
        errors.add("tot", "De einddatum ligt vóór de begindatum.")
    if len(form.gebruiker) > 128:
        errors.add("gebruiker", "Vul hier hoogstens 128 tekens in.")
    if form.gebeurtenis and (len(form.gebeurtenis) > 64 or not _EVENT.match(form.gebeurtenis)):
        errors.add("gebeurtenis", "Kies een gebeurtenis uit de lijst.")
    if form.doel and len(form.doel) > 32:
        errors.add("doel", "Kies een doel uit de lijst.")
    if len(form.zaaknummer) > 200:
        errors.add("zaaknummer", "Vul hier hoogstens 200 tekens in.")
    if form.uitkomst and form.uitkomst not in OUTCOMES:
        errors.add("uitkomst", "Kies een uitkomst uit de lijst.")
    if errors:
        return None, errors
    start, end = auditview.local_day_bounds(since, until, web.ctx.settings.timezone)
    return AuditFilter(since=start, until=end, event=form.gebeurtenis or None,
                       actor=form.gebruiker or None, purpose=form.doel or None,
                       case_reference=form.zaaknummer or None,
                       outcome=form.uitkomst or None), errors


def _cursor(params: QueryParams, name: str) -> int | None:
    value = params.get(name, "")
    return int(value) if value.isdigit() and len(value) < 19 else None


# --- the log --------------------------------------------------------------------------

@router.get("/audit")
def audit_log_page(request: Request, web: PrivacyOfficer) -> Response:
    form = FilterForm.from_params(request.query_params)
    flt, errors = parse_filters(web, form)
    before, after = _cursor(request.query_params, "voor"), _cursor(request.query_params, "na")
    result = None
    with web.ctx.db.read() as conn:
        if flt is not None:
            result = auditview.page(conn, flt, before=before, after=after)
        events = auditview.distinct_values(conn, "event")
        actors = auditview.distinct_values(conn, "actor")
    if flt is not None and result is not None:
        audit_service.record_read(web.ctx, web.principal, web.request_id, flt,
                                  returned=len(result.records), via="web",
                                  before=before, after=after)
    return render(request, "audit.html", web.page(
        title="Auditlog", form=form, errors=errors, field_errors=errors.by_field,
        result=result, events=_event_options(events), actors=actors,
        purpose_options=[(code, code) for code in web.ctx.purposes], outcomes=OUTCOMES,
        hidden_filters=[(k, v) for k, v in asdict(form).items() if v],
        newer_query=form.query(na=result.newer) if result and result.newer else None,
        older_query=form.query(voor=result.older) if result and result.older else None,
        export_formats=EXPORT_FORMATS, agencies=web.ctx.agencies),
        status=422 if errors else 200)


def _event_options(found: list[str]) -> list[tuple[str, str]]:
    known = sorted(set(found) | set(EVENTS))
    return [(code, label) for code, label in EVENT_GROUPS] + [
        (code, f"{EVENTS.get(code, code)} ({code})") for code in known]


@router.get("/audit/export")
def export(request: Request, web: PrivacyOfficer) -> Response:
    form = FilterForm.from_params(request.query_params)
    fmt = request.query_params.get("formaat", "csv")
    flt, errors = parse_filters(web, form)
    if fmt not in EXPORT_FORMATS:
        errors.add("formaat", "Kies CSV of JSON Lines.")
    if flt is None or errors:
        return render(request, "audit.html", web.page(
            title="Auditlog", form=form, errors=errors, field_errors=errors.by_field,
            result=None, events=_event_options([]), actors=[],
            purpose_options=[(code, code) for code in web.ctx.purposes], outcomes=OUTCOMES,
        hidden_filters=[(k, v) for k, v in asdict(form).items() if v], newer_query=None,
            older_query=None, export_formats=EXPORT_FORMATS, agencies=web.ctx.agencies),
            status=422)
    media_type, extension = EXPORT_FORMATS[fmt]
    # Spooled: small exports stay in memory, large ones go to a private temporary file.
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+", encoding="utf-8",
                                        newline="")
    try:
        audit_service.export_records(web.ctx, web.principal, flt, fmt,  # type: ignore[arg-type]
                                     out, web.request_id)
        out.seek(0)
    except BaseException:
        out.close()
        raise
    stamp = utc_now().strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(_chunks(out), media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="auditlog-{stamp}.{extension}"'})


def _chunks(out: Any) -> Iterator[bytes]:
    try:
        while chunk := out.read(64 * 1024):
            yield chunk.encode("utf-8")
    finally:
        out.close()


# --- verifying the chain --------------------------------------------------------------

@router.get("/audit/verifieren")
def verify_page(request: Request, web: PrivacyOfficer) -> Response:
    return _verify_page(request, web, checkpoint=audit_service.latest_checkpoint(web.ctx))


@router.post("/audit/verifieren")
def verify(request: Request, web: PrivacyOfficer) -> Response:
    ctx = web.ctx
    if web.form.get("actie") == "ondertekenen":
        checkpoint = audit_service.checkpoint_for(ctx, web.principal, web.request_id,
                                                  wanted="sign", via="web")
        return _verify_page(request, web, checkpoint=checkpoint, signed=True)
    outside_text = web.form.get("checkpoints", "")
    outside = split_checkpoints(outside_text)
    result = audit_service.verify_for(ctx, web.principal, web.request_id, via="web",
                                      outside_checkpoints=outside)
    return _verify_page(request, web, checkpoint=audit_service.latest_checkpoint(ctx),
                        result=result, outside_text=outside_text)


def split_checkpoints(text: str) -> tuple[str, ...]:
    """Checkpoints pasted one after another: each is a signed note (its body, a blank line,
    signature lines starting with an em dash), and the next begins after its signatures."""
    notes: list[str] = []
    current: list[str] = []
    in_signatures = False
    for line in text.replace("\r\n", "\n").split("\n"):
        if in_signatures and not line.startswith("\u2014 "):
            notes.append("\n".join(current) + "\n")
            current, in_signatures = [], False
        if not current and not line.strip():
            continue
        current.append(line)
        if line.startswith("\u2014 "):
            in_signatures = True
    if current and any(line.strip() for line in current):
        notes.append("\n".join(line for line in current).rstrip("\n") + "\n")
    return tuple(notes)


def _verify_page(request: Request, web: WebUser, *, checkpoint: str | None,
                 result: Any = None, signed: bool = False, outside_text: str = "") -> Response:
    summary = _checkpoint_summary(checkpoint)
    return render(request, "verifieren.html", web.page(
        title="Keten verifiëren", checkpoint=checkpoint, summary=summary, result=result,
        signed=signed, outside_text=outside_text,
        root_hex=_hex(result.root_hash) if result is not None else None))


def _hex(value: Any) -> str | None:
    if value is None:
        return None
    return value.hex() if isinstance(value, (bytes, bytearray)) else str(value)


def _checkpoint_summary(note: str | None) -> dict[str, str] | None:
    if not note:
        return None
    lines = note.split("\n")
    if len(lines) < 3:
        return None
    signers = [line.split(" ")[1] for line in lines if line.startswith("\u2014 ")
               and len(line.split(" ")) > 2]
    return {"origin": lines[0], "size": lines[1], "root": lines[2],
            "signers": ", ".join(signers)}


# --- a data subject's records ----------------------------------------------------------

SUBJECT_FIELDS = ("bsn", "voornamen", "tussenvoegsel", "achternaam", "geboortedatum")


@router.get("/audit/betrokkene")
def subject_page(request: Request, web: PrivacyOfficer) -> Response:
    return _subject_form(request, web, values={}, errors=Errors())


@router.post("/audit/betrokkene")
def subject_records(request: Request, web: PrivacyOfficer) -> Response:
    values = {name: web.form.get(name, "").strip() for name in SUBJECT_FIELDS}
    errors = Errors()
    identity: Identity | None = None
    if len(values["bsn"]) > 32 or any(len(v) > 200 for v in values.values()):
        errors.add("bsn", "Een van de velden is te lang.")
    else:
        try:
            identity = normalise_identity(
                bsn=values["bsn"] or None, given_names=values["voornamen"] or None,
                prefix=values["tussenvoegsel"] or None, surname=values["achternaam"] or None,
                date_of_birth=iso_date(values["geboortedatum"]) or None)
        except InvalidInput as exc:
            for e in exc.errors:
                web_field = MEMBER_FIELDS.get(e.field, ("bsn", "", ""))[0]
                errors.add(web_field, member_message(e.field, e.message))
    if identity is None:
        audit_service.record_subject_refused(web.ctx, web.principal, web.request_id,
                                             {e.field_id for e in errors.items}, via="web")
        return _subject_form(request, web, values=values, errors=errors, status=422)
    rows = audit_service.subject_records(web.ctx, web.principal, identity, web.request_id)
    mine = _pseudonyms(web, identity)
    records = [_subject_view(auditview._view(r), mine) for r in rows]
    return render(request, "betrokkene_resultaat.html", web.page(
        title="Inzageverzoek: overzicht", records=records, values=values,
        searched=_describe(values), purposes=web.ctx.purposes, agencies=web.ctx.agencies,
        made_at=utc_now(), today=local_today(web.ctx.settings.timezone)))


def _pseudonyms(web: WebUser, identity: Identity) -> set[tuple[int, str]]:
    """This person's pseudonyms (key version, hex) under every key the service holds."""
    pseudonymiser = web.ctx.pseudonymiser
    out: set[tuple[int, str]] = set()
    for version in pseudonymiser.active_versions:
        ps = pseudonymiser.pseudonymise([identity], version)[0]
        for digest in (ps.bsn, ps.name):
            if digest is not None:
                out.add((version, digest.hex()))
    return out


def _subject_view(record: dict[str, Any], mine: set[tuple[int, str]]) -> dict[str, Any]:
    """The record, with the agencies disclosed about *this* person where it says so."""
    own: list[str] | None = None
    for subject in record.get("subjects") or []:
        if not isinstance(subject, dict):
            continue
        version = subject.get("key_version")
        if any((version, subject.get(kind)) in mine for kind in ("bsn", "name")):
            agencies = subject.get("agencies")
            own = sorted(set(own or []) | set(agencies if isinstance(agencies, list) else []))
    record["own_agencies"] = own
    return record


def _describe(values: dict[str, str]) -> str:
    name = " ".join(v for v in (values["voornamen"], values["tussenvoegsel"],
                                values["achternaam"]) if v)
    parts = []
    if values["bsn"]:
        parts.append(f"BSN {values['bsn']}")
    if name:
        parts.append(name)
    if values["geboortedatum"]:
        parts.append(f"geboren {values['geboortedatum']}")
    return ", ".join(parts)


def _subject_form(request: Request, web: WebUser, *, values: dict[str, str], errors: Errors,
                  status: int = 200) -> Response:
    return render(request, "betrokkene.html", web.page(
        title="Inzageverzoek betrokkene", values=values, errors=errors,
        field_errors=errors.by_field), status=status)


# --- statistics -----------------------------------------------------------------------

__all__ = ["FilterForm", "parse_filters", "router", "split_checkpoints"]
