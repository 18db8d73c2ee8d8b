"""The coordinators' inbox, "Meldingen" (issue 16 item 5): the signals of the
Veiligheidshuis (a partner's query, a followed household that another organisation now
knows), the acknowledged ones, and the organisation's open follow-ups with their end date.

Reading, acknowledging and ending go through ``hitmachine.services.signals`` (via
``services.inbox``), which writes the audit records: this page builds none. Both buttons
are POST forms with the session's CSRF token; after one the page redirects to itself
(303), so that reloading it repeats nothing. A signal or follow-up of another inbox, an
expired one, or a made-up id is "not found", as in the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from hitmachine.core.errors import NotFound
from hitmachine.core.principal import VEILIGHEIDSHUIS
from hitmachine.http.web.deps import Coordinator
from hitmachine.http.web.errors import WebProblem, WebRoute
from hitmachine.http.web.render import local_time, render
from hitmachine.http.web.texts import SIGNAL_KINDS
from hitmachine.http.web.user import WebUser
from hitmachine.services import inbox
from hitmachine.services import signals as signal_service
from hitmachine.store.signals import FollowUp, Signal

router = APIRouter(route_class=WebRoute, include_in_schema=False)

NOTICES = {
    "melding": "De melding is afgehandeld.",
    "volgvraag": "De volgvraag is beëindigd. De gegevens van het huishouden zijn verwijderd.",
}


@dataclass(frozen=True, slots=True)
class SignalRow:
    """One signal as the page shows it: Dutch labels, organisation names, local times."""

    id: str
    kind: str
    label: str
    received: str
    purpose: str
    case_reference: str
    sender: str
    contact: str
    summary: str
    acked: str


@dataclass(frozen=True, slots=True)
class FollowUpRow:
    id: str
    purpose: str
    case_reference: str
    members: int
    agencies: str
    opened: str
    ends: str


@router.get("/meldingen")
def inbox_page(request: Request, web: Coordinator) -> Response:
    found = inbox.view(web.ctx, web.principal, web.request_id)
    done = request.query_params.get("klaar", "")
    return render(request, "meldingen.html", web.page(
        title="Meldingen", new=[_signal_row(web, s) for s in found.new],
        acknowledged=[_signal_row(web, s) for s in found.acknowledged],
        follow_ups=[_follow_up_row(web, f) for f in found.follow_ups],
        notice=NOTICES.get(done)))


@router.post("/meldingen/afhandelen")
def acknowledge(web: Coordinator) -> Response:
    try:
        signal_service.ack_signal(web.ctx, web.principal, web.form.text("melding"),
                                  web.request_id)
    except NotFound:
        raise WebProblem(web=web, status=404, title="Melding niet gevonden",
                         message="Deze melding staat niet (meer) in uw postvak: ze is "
                                 "verlopen of bestaat niet. Ga terug naar Meldingen en "
                                 "laad de pagina opnieuw.") from None
    return RedirectResponse("/meldingen?klaar=melding", status_code=303)


@router.post("/meldingen/volgvraag-beeindigen")
def end_follow_up(web: Coordinator) -> Response:
    try:
        signal_service.end_follow_up(web.ctx, web.principal, web.form.text("volgvraag"),
                                     web.request_id)
    except NotFound:
        raise WebProblem(web=web, status=404, title="Volgvraag niet gevonden",
                         message="Deze volgvraag loopt niet (meer): ze is beëindigd, "
                                 "verlopen of bestaat niet. Ga terug naar Meldingen en laad "
                                 "de pagina opnieuw.") from None
    return RedirectResponse("/meldingen?klaar=volgvraag", status_code=303)


def _name(web: WebUser, code: str) -> str:
    if code == VEILIGHEIDSHUIS:
        return "Veiligheidshuis"
    agency = web.ctx.agencies.get(code)
    return agency.name if agency is not None else code


def _names(web: WebUser, codes: object) -> str:
    if not isinstance(codes, list | tuple) or not codes:
        return "geen"
    return ", ".join(_name(web, str(c)) for c in codes)


def _purpose(web: WebUser, code: str) -> str:
    purpose = web.ctx.purposes.get(code)
    return purpose.description if purpose is not None else code


def _summary(web: WebUser, s: Signal) -> str:
    d = s.detail
    if s.kind == "follow_up":
        agencies = d.get("agencies") or []
        count = len(agencies) if isinstance(agencies, list) else 0
        added = d.get("added") or []
        also = "ook " if count > (len(added) if isinstance(added, list) else 0) else ""
        text = (f"Het gevolgde huishouden is nu {also}bekend bij {_names(web, added)}. "
                f"Bekend bij {count} {'organisatie' if count == 1 else 'organisaties'}: "
                f"{_names(web, agencies)}.")
        return text + (" Meerdere domeinen." if d.get("multi_agency") else "")
    if s.kind == "partner_query":
        members = d.get("members")
        people = f"{members} {'persoon' if members == 1 else 'personen'}"
        return (f"{_name(web, str(d.get('partner') or s.sender))} vroeg naar een huishouden "
                f"van {people}. Bekend bij: {_names(web, d.get('agencies'))}."
                + (" Meerdere domeinen." if d.get("multi_agency") else ""))
    return ("Er is gevraagd naar een persoon die uw organisatie heeft geregistreerd. Wie "
            "het is ziet u in uw eigen systeem (hitmachine-adapter signals).")


def _signal_row(web: WebUser, s: Signal) -> SignalRow:
    tz = web.ctx.settings.timezone
    return SignalRow(id=s.public_id, kind=s.kind, label=SIGNAL_KINDS.get(s.kind, s.kind),
                     received=local_time(s.created_at, tz, seconds=False),
                     purpose=_purpose(web, s.purpose), case_reference=s.case_reference,
                     sender=_name(web, s.sender), contact=s.contact,
                     summary=_summary(web, s),
                     acked=local_time(s.acked_at, tz, seconds=False) if s.acked_at else "")


def _follow_up_row(web: WebUser, f: FollowUp) -> FollowUpRow:
    tz = web.ctx.settings.timezone
    return FollowUpRow(id=f.public_id, purpose=_purpose(web, f.purpose),
                       case_reference=f.case_reference, members=f.members,
                       agencies=_names(web, list(f.agencies)),
                       opened=local_time(f.opened_at, tz, seconds=False),
                       ends=local_time(f.expires_at, tz, seconds=False))


__all__ = ["router"]
