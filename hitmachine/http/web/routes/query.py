"""The coordinator's pages: ask about a person or a household, and see the answer.

The form posts to ``/resultaat`` and the answer is rendered in that POST's response: no
identifier ever travels in a URL (so none in the browser history or the access log), and
the page is ``no-store``.

"Volg dit huishouden" (a follow-up, issue 16) on the result page re-submits the same form
to ``/resultaat`` with ``volgdagen``: the household is asked again, with
``follow_up_days``, as a new query with its own audit record. The service keeps no query
after answering it (only its audit record, which holds pseudonyms of the primary key
version alone, and no follow-up can be built from that), so a follow-up cannot be opened
"from" an earlier answer; re-asking is also what makes the follow-up start from the
agencies known at that moment, inside the transaction that holds publishes off
(``services.query._with_follow_up``). The members travel back in hidden fields of that
POST form, never in a URL, on a page that is ``no-store`` and already shows them. Members are added and removed without JavaScript by posting the
form to ``/zoeken``, which shows it again; ``leden.js`` does the same in the page.

Input is checked by the API's own rules: the API's request model (lengths, required
fields), then ``hitmachine.services.query.household`` (11-test, name key, birth date,
purpose), which also writes the audit record exactly as for the API. Refused input is
audited like the API's: event ``query.household``, outcome ``invalid``, field names only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from hitmachine.core.agencies import Agency, Purpose
from hitmachine.core.errors import InvalidInput, LimitExceeded
from hitmachine.http.schemas import HouseholdQueryIn
from hitmachine.http.web.deps import Coordinator
from hitmachine.http.web.errors import LimitReached, WebRoute
from hitmachine.http.web.forms import Errors, Form, dutch_date, iso_date
from hitmachine.http.web.render import local_time, render
from hitmachine.http.web.texts import (
    MEMBER_FIELDS,
    WEB_MEMBER_FIELDS,
    generic_message,
    member_message,
)
from hitmachine.http.web.user import WebUser
from hitmachine.services import query as query_service
from hitmachine.services import signals as signal_service

router = APIRouter(route_class=WebRoute, include_in_schema=False)

_MEMBER_KEY = re.compile(r"^lid-(\d{1,3})-(bsn|voornamen|tussenvoegsel|achternaam|geboortedatum)$")
_REMOVE = re.compile(r"^verwijder-(\d{1,3})$")


@dataclass
class MemberRow:
    """One member as typed in the form (web field names)."""

    bsn: str = ""
    voornamen: str = ""
    tussenvoegsel: str = ""
    achternaam: str = ""
    geboortedatum: str = ""

    def empty(self) -> bool:
        return not any(getattr(self, f.name).strip() for f in fields(self))

    def domain(self) -> dict[str, str | None]:
        """The API's member fields; an empty field is an absent one."""
        def value(text: str) -> str | None:
            return text.strip() or None
        return {"bsn": value(self.bsn), "given_names": value(self.voornamen),
                "prefix": value(self.tussenvoegsel), "surname": value(self.achternaam),
                "date_of_birth": value(iso_date(self.geboortedatum))}

    def description(self) -> str:
        """How the result page names this member (only ever in a no-store response)."""
        name = " ".join(p for p in (self.voornamen.strip(), self.tussenvoegsel.strip(),
                                    self.achternaam.strip()) if p)
        born = dutch_date(iso_date(self.geboortedatum)) if self.geboortedatum.strip() else ""
        parts = []
        if self.bsn.strip():
            parts.append(f"BSN {self.bsn.strip()}")
        if name:
            parts.append(name + (f", geboren {born}" if born else ""))
        elif born:
            parts.append(f"geboren {born}")
        return " — ".join(parts)


def members_from(form: Form) -> list[MemberRow]:
    rows: dict[int, MemberRow] = {}
    for key, value in form.items():
        m = _MEMBER_KEY.match(key)
        if m:
            setattr(rows.setdefault(int(m.group(1)), MemberRow()), m.group(2), value)
    return [rows[i] for i in sorted(rows)]


def _compact(rows: list[MemberRow]) -> list[MemberRow]:
    """Rows left entirely empty are dropped; at least one row stays."""
    kept = [r for r in rows if not r.empty()]
    return kept or [MemberRow()]


@router.get("/zoeken")
def query_page(request: Request, web: Coordinator) -> Response:
    return _form_page(request, web, purpose="", case_reference="", members=[MemberRow()])


@router.post("/zoeken")
def edit_members(request: Request, web: Coordinator) -> Response:
    """Without JavaScript: add a member, or remove one, and show the form again."""
    form = web.form
    rows = members_from(form) or [MemberRow()]
    action = form.get("actie", "")
    announce = None
    removed = _REMOVE.match(action)
    if action == "toevoegen" and len(rows) < web.ctx.settings.max_members:
        rows.append(MemberRow())
        announce = f"Lid {len(rows)} toegevoegd."
    elif removed and len(rows) > 1 and int(removed.group(1)) < len(rows):
        del rows[int(removed.group(1))]
        announce = f"Lid {int(removed.group(1)) + 1} verwijderd."
    return _form_page(request, web, purpose=form.text("doel"),
                      case_reference=form.text("zaaknummer"), members=rows, announce=announce,
                      focus_member=len(rows) - 1 if action == "toevoegen" else None,
                      follow_days=form.get("volgdagen"))


@router.get("/resultaat")
def result_without_question(web: Coordinator) -> Response:
    return RedirectResponse("/zoeken", status_code=303)


@router.post("/resultaat")
def ask(request: Request, web: Coordinator) -> Response:
    form = web.form
    purpose, case_reference = form.text("doel"), form.text("zaaknummer")
    rows = _compact(members_from(form))
    errors = Errors()
    follow_days = form.get("volgdagen")  # present: "Volg dit huishouden" was pressed
    days = _follow_up_days(web, purpose, follow_days, errors)
    body = _validate_like_the_api(web, purpose, case_reference, rows, errors, days)
    answer = None
    if body is not None:
        query = body.to_query()
        try:
            answer = query_service.household(web.ctx, web.principal, query, web.request_id)
        except LimitExceeded as exc:
            raise LimitReached(exc, web=web) from None
        except InvalidInput as exc:
            for e in exc.errors:
                _add_error(errors, e.field.split("."), e.message)
    if answer is None:
        _audit_invalid(web, errors)
        return _form_page(request, web, purpose=purpose, case_reference=case_reference,
                          members=rows, errors=errors, status=422, follow_days=follow_days)
    return render(request, "resultaat.html", web.page(
        title="Resultaat", answer=answer, rows=rows,
        purpose=web.ctx.purposes[purpose], case_reference=case_reference,
        follow_up_ends=(local_time(answer.follow_up.expires_at, web.ctx.settings.timezone,
                                   seconds=False) if answer.follow_up else ""),
        agencies=web.ctx.agencies,
        household_names=[web.ctx.agencies[c].name for c in answer.agencies],
        age_rules=age_rules(web.ctx.agencies)))


def age_rules(agencies: dict[str, Agency]) -> list[str]:
    """The configured disclosure rules by age, as sentences for the result page."""
    out = []
    for a in agencies.values():
        low, high = a.disclosure.min_age, a.disclosure.max_age
        if low is not None and high is not None:
            out.append(f"{a.name} wordt alleen gemeld voor personen van {low} tot en met "
                       f"{high} jaar.")
        elif low is not None:
            out.append(f"{a.name} wordt alleen gemeld voor personen van {low} jaar en ouder.")
        elif high is not None:
            out.append(f"{a.name} wordt alleen gemeld voor personen tot en met {high} jaar.")
    if out:
        out.append("De leeftijd telt alleen als de organisatie zelf dezelfde geboortedatum "
                   "bij het BSN heeft (of de persoon op naam en geboortedatum vindt). Zonder "
                   "geboortedatum kan de leeftijd niet worden bepaald; zulke organisaties "
                   "staan dan bij de persoon als niet na te gaan.")
    return out


def _follow_up_days(web: WebUser, purpose: str, text: str | None,
                    errors: Errors) -> int | None:
    """The number of days to follow the household, or None (not asked, or refused: then
    with a Dutch error at the field). The limit is the service's own rule
    (``check_follow_up_days``) with the purpose's configured maximum."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None  # left empty on the form: ask without following
    config = web.ctx.purposes.get(purpose)
    if not text.isdigit() or len(text) > 4:
        errors.add("volgdagen", "Vul het aantal dagen in als een heel getal, bijvoorbeeld 30.")
        return None
    days = int(text)
    if config is not None and signal_service.check_follow_up_days(config, days):
        errors.add("volgdagen", _days_message(config))
        return None
    return days


def _days_message(purpose: Purpose) -> str:
    if purpose.follow_up_max_days == 0:
        return "Bij dit doel kan een huishouden niet worden gevolgd. Maak het veld leeg."
    return (f"Een huishouden kan bij dit doel 1 tot en met {purpose.follow_up_max_days} dagen "
            f"worden gevolgd. Vul een aantal dagen van 1 tot en met "
            f"{purpose.follow_up_max_days} in.")


def _validate_like_the_api(web: WebUser, purpose: str, case_reference: str,
                           rows: list[MemberRow], errors: Errors,
                           follow_up_days: int | None = None) -> HouseholdQueryIn | None:
    """Every problem at once: the API's request model, the purpose, the number of members,
    and the domain's rules for each member (the same code the query runs)."""
    body = None
    try:
        body = HouseholdQueryIn(purpose=purpose, case_reference=case_reference,
                                members=[r.domain() for r in rows],  # type: ignore[misc]
                                follow_up_days=follow_up_days)
    except ValidationError as exc:
        for err in exc.errors():
            _add_error(errors, [str(p) for p in err["loc"]], _pydantic_message(err))
    if purpose not in _offered(web):
        errors.add("doel", "Kies het doel van de vraag.")
    if len(rows) > web.ctx.settings.max_members:
        errors.add("lid-0-bsn", f"Vraag naar hoogstens {web.ctx.settings.max_members} "
                                f"personen tegelijk.")
    try:
        query_service.normalise_members(
            [query_service.MemberInput(**r.domain()) for r in rows])
    except InvalidInput as exc:
        for e in exc.errors:
            _add_error(errors, e.field.split("."), e.message)
    return None if errors else body


def _pydantic_message(err: Any) -> str:
    if err.get("type") == "string_too_long":
        return f"at most {err.get('ctx', {}).get('max_length')} characters"
    if err.get("type") in ("string_too_short", "missing"):
        return "is required"
    return str(err.get("msg", "is invalid"))


def _add_error(errors: Errors, loc: list[str], message: str) -> None:
    """Put an error (by the API's field path) at the form field it belongs to."""
    if loc and loc[0] == "members" and len(loc) >= 3 and loc[1].isdigit():
        web_field, _, _ = MEMBER_FIELDS.get(loc[2], ("bsn", "", ""))
        errors.add(f"lid-{loc[1]}-{web_field}", member_message(loc[2], message))
    elif loc and loc[0] == "members" and len(loc) == 2 and loc[1].isdigit():
        # The whole member (the same person twice): shown at its surname.
        errors.add(f"lid-{loc[1]}-achternaam", member_message("surname", message))
    elif loc and loc[0] == "members":
        errors.add("lid-0-bsn", member_message("", message))
    elif loc and loc[0] == "case_reference":
        errors.add("zaaknummer", generic_message(message, "het zaaknummer"))
    elif loc and loc[0] == "purpose":
        errors.add("doel", "Kies het doel van de vraag.")
    elif loc and loc[0] == "follow_up_days":
        errors.add("volgdagen", "Controleer het aantal dagen.")
    else:
        errors.add("zaaknummer", generic_message(message))


def _audit_invalid(web: WebUser, errors: Errors) -> None:
    """Refused input, audited as the API audits it: the fields, never their values."""
    query_service.record_refused(web.ctx, web.principal, web.request_id,
                                 [_api_field(e.field_id) for e in errors.items], via="web")


_MEMBER_ORDER = ("bsn", "voornamen", "tussenvoegsel", "achternaam", "geboortedatum")


def _form_order(field_id: str) -> tuple[int, int, int]:
    """Where a field is on the page, so that the error summary follows the form."""
    if field_id.startswith("doel"):
        return (0, 0, 0)
    if field_id == "zaaknummer":
        return (1, 0, 0)
    m = re.match(r"^lid-(\d+)-(\w+)$", field_id)
    if m and m.group(2) in _MEMBER_ORDER:
        return (2, int(m.group(1)), _MEMBER_ORDER.index(m.group(2)))
    return (3, 0, 0)


def _api_field(field_id: str) -> str:
    m = re.match(r"^lid-(\d+)-(\w+)$", field_id)
    if m:
        return f"members.{m.group(1)}.{WEB_MEMBER_FIELDS.get(m.group(2), m.group(2))}"
    return {"zaaknummer": "case_reference", "doel": "purpose",
            "volgdagen": "follow_up_days"}.get(field_id, field_id)


def _offered(web: WebUser) -> dict[str, Purpose]:
    """The purposes this user may ask: research purposes (replays) are a researcher
    token's, never a web user's."""
    return {code: p for code, p in web.ctx.purposes.items()
            if not p.allows_reference_date or web.principal.may_research()}


def _form_page(request: Request, web: WebUser, *, purpose: str, case_reference: str,
               members: list[MemberRow], errors: Errors | None = None,
               announce: str | None = None, focus_member: int | None = None,
               status: int = 200, follow_days: str | None = None) -> Response:
    errors = errors or Errors()
    # The error summary links to the purpose's first radio button.
    purposes = list(_offered(web).values())
    bounded = [a.name for a in web.ctx.agencies.values() if a.disclosure.age_bounded]
    by_field = errors.by_field
    if "doel" in by_field and purposes:
        errors.items = [type(e)(f"doel-{purposes[0].code}", e.message) if e.field_id == "doel"
                        else e for e in errors.items]
    errors.items.sort(key=lambda e: _form_order(e.field_id))
    return render(request, "zoeken.html", web.page(
        title="Vraag stellen", purposes=purposes, purpose=purpose,
        case_reference=case_reference, members=members, errors=errors,
        field_errors=by_field, announce=announce, focus_member=focus_member, blank=MemberRow(),
        max_members=web.ctx.settings.max_members, age_bounded=_names(bounded),
        age_bounded_count=len(bounded), follow_days=follow_days,
        follow_max=max((p.follow_up_max_days for p in purposes), default=0)), status=status)


def _names(names: list[str]) -> str:
    """"A", "A en B", "A, B en C"."""
    if len(names) < 2:
        return "".join(names)
    return ", ".join(names[:-1]) + " en " + names[-1]


__all__ = ["MemberRow", "members_from", "router"]
