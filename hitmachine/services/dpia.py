"""The processing description for the DPIA and the article 30 register (issue 17, item 5).

Built from the running configuration (``Settings``: agencies, purposes with their legal
basis, retention, sessions, tokens, keys) and from two maintained data files in
``hitmachine/data/dpia/``: the security measures with the tests that show them, and the
adversary table that ``docs/privacy.md`` shows too. ``describe`` is the one way to read it:
it counts the last year's queries through ``services.statistics.read`` (which records
``audit.statistics``) and records ``dpia.read`` itself, so that the shells (``hitmachine
dpia``, the ``/dpia`` page) only lay the result out.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hitmachine.core.agencies import AVG_GROUNDS, SPECIAL_GROUNDS, Agency, DisclosureRule
from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.core.clock import local_today, utc_now
from hitmachine.core.errors import Forbidden
from hitmachine.core.principal import ROLE_PERMISSIONS, Permission, Principal, Role
from hitmachine.services.statistics import Statistics
from hitmachine.settings import Settings

if TYPE_CHECKING:
    from hitmachine.services.context import Context

DATA = Path(__file__).resolve().parents[1] / "data" / "dpia"
MEASURES_FILE = DATA / "maatregelen.toml"
ADVERSARIES_FILE = DATA / "adversaries.toml"
# The statistics cover the last year up to today, like the statistics page's default.
STATISTICS_DAYS = 7 * 52

ROLE_NAMES = {
    Role.COORDINATOR: "Informatiecoördinator",
    Role.PARTNER: "Ketenpartner (systeem)",
    Role.PRIVACY_OFFICER: "Functionaris gegevensbescherming",
    Role.ADMIN: "Beheerder",
    Role.ADAPTER: "Adapter van een partner",
    Role.RESEARCHER: "Onderzoeker",
}
PERMISSION_TEXTS = {
    Permission.QUERY: "vragen stellen over personen en huishoudens (bekend / niet bekend)",
    Permission.PUBLISH: "pseudoniemen publiceren voor de eigen organisatie",
    Permission.READ_AUDIT: "het auditlog, inzageverzoeken, statistieken en deze beschrijving "
                           "inzien",
    Permission.VERIFY_AUDIT: "de keten van het auditlog verifiëren",
    Permission.ADMIN: "tokens, sleutels en accounts beheren",
    Permission.READ_CATALOGUE: "de lijst van partners en doelen inzien",
    Permission.READ_SIGNALS: "meldingen ophalen en afvinken (de eigen organisatie; de "
                             "coördinatoren die van het Veiligheidshuis)",
}
ROLE_NOTES = {
    Role.PARTNER: "alleen voor de eigen organisatie; bewijzen alleen over eigen auditregels",
    Role.ADAPTER: "alleen voor de eigen organisatie",
    Role.RESEARCHER: "alleen het onderzoeksdoel, met een peildatum",
}


# --- the maintained data files --------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Measure:
    code: str
    name: str
    description: str
    tests: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Adversary:
    """One row of the adversary table, Markdown in every cell (as in docs/privacy.md)."""

    name: str
    has: str
    hmac: str
    oprf: str
    shown_by: str


def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


@cache
def measures() -> tuple[Measure, ...]:
    return tuple(Measure(m["code"], m["naam"], m["beschrijving"], tuple(m["tests"]))
                 for m in _load(MEASURES_FILE)["maatregel"])


@cache
def adversaries() -> tuple[Adversary, ...]:
    return tuple(Adversary(a["name"], a["has"], a["hmac"], a["oprf"], a["shown_by"])
                 for a in _load(ADVERSARIES_FILE)["adversary"])


ADVERSARY_HEAD = ("| Adversary | has | under `hmac` can | under `oprf` can | shown by |\n"
                  "|---|---|---|---|---|\n")
BEGIN_MARK = "<!-- adversaries: from hitmachine/data/dpia/adversaries.toml (make docs) -->"
END_MARK = "<!-- /adversaries -->"


def adversary_table_markdown() -> str:
    """The table as docs/privacy.md shows it between its markers."""
    return ADVERSARY_HEAD + "".join(
        f"| {a.name} | {a.has} | {a.hmac} | {a.oprf} | {a.shown_by} |\n" for a in adversaries())


def privacy_doc_with_table(text: str) -> str:
    """``text`` (docs/privacy.md) with the table between the markers replaced."""
    begin, end = text.index(BEGIN_MARK) + len(BEGIN_MARK), text.index(END_MARK)
    return text[:begin] + "\n" + adversary_table_markdown() + text[end:]




def cited_tests() -> list[str]:
    """Every test the DPIA cites: the measures' node ids, and the test files and tests the
    adversary table names (a bare ``::name`` continues the file before it)."""
    cited = [t for m in measures() for t in m.tests]
    for a in adversaries():
        last = ""
        for ref in re.findall(r"tests/[\w/]+\.py(?:::\w+)?|::\w+", a.shown_by):
            if ref.startswith("::"):
                cited.append(last + ref)
            else:
                last = ref.split("::")[0]
                cited.append(ref)
    return cited


# --- the description --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PurposeEntry:
    code: str
    description: str
    ground: str
    further: tuple[str, ...]
    sources: tuple[str, ...]
    citation: str
    research: bool


@dataclass(frozen=True, slots=True)
class AgencyEntry:
    code: str
    name: str
    contact: str
    rule: str


@dataclass(frozen=True, slots=True)
class Entry:
    """A row of a two- or three-column table: what, a detail, and (optional) a term."""

    what: str
    detail: str
    term: str = ""


@dataclass(frozen=True, slots=True)
class PurposeCount:
    code: str
    description: str
    total: int
    hits: int

    @property
    def no_hits(self) -> int:
        return self.total - self.hits


@dataclass(frozen=True, slots=True)
class Dpia:
    generated_at: str          # local time, "02-12-2026 07:10"
    origin: str
    scheme: str
    purposes: tuple[PurposeEntry, ...]
    data_categories: tuple[Entry, ...]
    people: tuple[Entry, ...]
    agencies: tuple[AgencyEntry, ...]
    storage: tuple[Entry, ...]
    roles: tuple[Entry, ...]
    measures: tuple[Measure, ...]
    adversaries: tuple[Adversary, ...]
    statistics: Statistics
    per_purpose: tuple[PurposeCount, ...]


def age_rule(rule: DisclosureRule) -> str:
    if rule.min_age is not None and rule.max_age is not None:
        return f"alleen van {rule.min_age} tot en met {rule.max_age} jaar op de vraagdatum"
    if rule.min_age is not None:
        return f"alleen vanaf {rule.min_age} jaar op de vraagdatum"
    if rule.max_age is not None:
        return f"alleen tot en met {rule.max_age} jaar op de vraagdatum"
    return "alle leeftijden"


def _agency(agency: Agency) -> AgencyEntry:
    rule = age_rule(agency.disclosure)
    if agency.disclosure.age_bounded:
        rule += ("; de leeftijd komt uit een geboortedatum die de partner zelf bevestigt; "
                 "zonder geboortedatum wordt deze partner niet getoond")
    return AgencyEntry(agency.code, agency.name, agency.contact, rule)


def _database(settings: Settings) -> str:
    # The backend only: the URL may hold a password, the path says nothing to a reader.
    from sqlalchemy.engine import make_url

    backend = make_url(settings.database_url).get_backend_name()
    return "PostgreSQL-database" if backend == "postgresql" else "SQLite-databasebestand"


def _hours(minutes: int) -> str:
    return f"{minutes} minuten" if minutes % 60 else f"{minutes // 60} uur"


def storage(settings: Settings) -> tuple[Entry, ...]:
    db = _database(settings)
    retention = settings.retention_days
    if settings.pseudonym_scheme == "oprf":
        host = urlsplit(settings.keyservice_url or "").hostname or "(niet ingesteld)"
        keys = (f"Map {settings.keys_dir} (bestanden 0600, buiten de database): de "
                f"ondertekensleutel van het auditlog, de sleutel van de tweede factor en het "
                f"token voor de sleuteldienst; de "
                f"pseudonimiseringssleutel staat alleen in de sleuteldienst ({host})")
    else:
        keys = (f"Map {settings.keys_dir} (bestanden 0600, buiten de database): de "
                f"pseudonimiseringssleutels (HMAC, per versie), de ondertekensleutel van "
                f"het auditlog en de sleutel van de tweede factor; elke adapter heeft een "
                f"kopie van de HMAC-sleutels")
    limits = ("Redis (gedeeld door de werkprocessen)" if settings.rate_limit_storage
              and settings.rate_limit_storage.startswith(("redis", "rediss"))
              else "geheugen van het werkproces" if not settings.rate_limit_storage
              else "de ingestelde limietopslag")
    return (
        Entry("Index van pseudoniemen (per partner: 32-byte pseudoniemen van BSN, "
              "naamsleutel + geboortedatum, BSN + geboortedatum)",
              f"{db}, tabellen agency_sets en entries",
              "tot de volgende publicatie van de partner (een snapshot vervangt de hele set, "
              "een delta verwijdert vermeldingen); een onvoltooide publicatie vervalt na "
              f"{settings.sync_ttl_seconds // 60} minuten"),
        Entry("Auditlog (wie, wanneer, doel, zaaknummer, pseudoniemen van de gevraagde "
              "personen, uitkomst en getoonde partners)",
              f"{db}, tabel audit_records, met Merkle-boom en ondertekende checkpoints",
              f"inhoud {retention} dagen (wettelijke ondergrens "
              f"{settings.retention_floor_days} dagen), daarna gewist met 'hitmachine audit "
              "prune'; de bladhashes blijven, en van de oudere checkpoints één per uur"),
        Entry("Websessies (gehashte sessiesleutel, CSRF-token, tijden)",
              f"{db}, tabel web_sessions",
              f"verloopt na {_hours(settings.web_idle_timeout_minutes)} zonder activiteit, "
              f"uiterlijk na {settings.web_session_max_hours} uur"),
        Entry("Accounts (naam, rol, Argon2id-hash van het wachtwoord, blokkering)",
              f"{db}, tabel users",
              "zolang het account bestaat; een uitgeschakeld account blijft voor het "
              f"auditlog; geblokkeerd na {settings.web_lockout_attempts} foute wachtwoorden "
              f"voor {settings.web_lockout_minutes} minuten"),
        Entry("API-tokens (naam, rol, partner, SHA-256 van het token, vervaldatum)",
              f"{db}, tabel tokens",
              f"tot de vervaldatum; zonder opgegeven vervaldatum {settings.token_lifetime_days}"
              " dagen; intrekken kan eerder"),
        Entry("Tweede factor van accounts (de TOTP-sleutel, versleuteld met AES-256-GCM onder "
              "keys/factor.key; gezouten SHA-256 van de herstelcodes)",
              f"{db}, tabellen user_factors, recovery_codes en factor_challenges",
              "zolang het account de factor heeft ('hitmachine user reset-factor' wist hem); "
              "een aanmeldpoging met code vervalt na 10 minuten"),
        Entry("Koppeling van accounts aan de identiteitsprovider (SHA-256 van uitgever en "
              "onderwerp, nooit het onderwerp zelf)",
              f"{db}, tabellen oidc_identities en oidc_attempts",
              "zolang het account bestaat; een aanmeldpoging vervalt na 10 minuten"),
        Entry("Meldingen aan partners en coördinatoren (vragende organisatie, doel, "
              "zaaknummer, datum, de pseudoniemen van de persoon zoals de partner ze "
              "publiceerde)",
              f"{db}, tabel signals",
              f"{settings.signal_expiry_days} dagen, daarna gewist; afhandelen wist niet"),
        Entry("Volgvragen (pseudoniemen van de leden, de partners die bij het openen bekend "
              "waren; geen geboortedatum, alleen de dagen waarop een leeftijdsregel de "
              "partner toelaat)",
              f"{db}, tabellen follow_ups en follow_up_members",
              "tot de einddatum (per doel ten hoogste "
              + ", ".join(f"{pu.code} {pu.follow_up_max_days} dagen"
                          for pu in settings.purposes if pu.follow_up_max_days)
              + ") of tot de coördinator haar beëindigt; dan worden de pseudoniemen gewist"),
        Entry("Sleutels", keys, "tot intrekking van de sleutelversie"),
        Entry("Tellers voor snelheidsgrenzen en dagbudget (per token, gebruiker of adres)",
              limits, "de duur van het tijdvak (minuut of dag)"),
    )


def roles() -> tuple[Entry, ...]:
    rows = []
    for role in Role:
        allowed = [PERMISSION_TEXTS[p] for p in Permission if p in ROLE_PERMISSIONS[role]]
        rows.append(Entry(ROLE_NAMES[role], "; ".join(allowed), ROLE_NOTES.get(role, "")))
    return tuple(rows)


def categories(settings: Settings) -> tuple[tuple[Entry, ...], tuple[Entry, ...]]:
    scheme = ("blinde pseudoniemen (OPRF, RFC 9497) via de sleuteldienst"
              if settings.pseudonym_scheme == "oprf" else "HMAC-SHA256 onder een geheime sleutel")
    data = (
        Entry("Burgerservicenummer (BSN)",
              f"alleen als pseudoniem ({scheme}); bij de vraag genormaliseerd en direct "
              "gepseudonimiseerd, nergens bewaard"),
        Entry("Naam (voorvoegsel, achternaam, eerste initiaal) en geboortedatum",
              "alleen als pseudoniem van de naamsleutel; de geboortedatum ook voor de "
              "leeftijdsregels, niet bewaard"),
        Entry("Het gegeven dat een partner iemand kent",
              "per partner; kan wijzen op schulden, schoolverzuim, zorg of betrokkenheid "
              "bij het strafrecht (strafrechtelijke gegevens, AVG art. 10)"),
        Entry("Gegevens van de vraag", "doel, zaaknummer, uitkomst, getoonde partners"),
        Entry("Gegevens van medewerkers", "naam, rol, aanmeldingen en handelingen (auditlog)"),
    )
    people = [Entry(f"Personen die bekend zijn bij {a.name}",
                    f"gepubliceerd als pseudoniem; getoond: {age_rule(a.disclosure)}")
              for a in settings.agencies]
    people += [Entry("Leden van een huishouden waarover een vraag wordt gesteld",
                     "ook als zij nergens bekend zijn: hun pseudoniemen staan in het auditlog"),
               Entry("Medewerkers van het Veiligheidshuis en de partners",
                     "gebruikers van de webpagina's en houders van API-tokens")]
    return data, tuple(people)


def _purpose(p: Any) -> PurposeEntry:
    basis = p.legal_basis
    return PurposeEntry(p.code, p.description, AVG_GROUNDS[basis.ground],
                        tuple(SPECIAL_GROUNDS[s] for s in basis.special),
                        tuple(s.citation for s in basis.sources), basis.citation,
                        p.allows_reference_date)


def build(settings: Settings, stats: Statistics, *, now: dt.datetime) -> Dpia:
    """The description itself (no database, nothing recorded): for ``describe``."""
    from zoneinfo import ZoneInfo

    data, people = categories(settings)
    labels = {p.code: p.description for p in settings.purposes}
    counts = {g.key: g for g in stats.per_purpose}
    per_purpose = [PurposeCount(code, labels[code], counts[code].total if code in counts else 0,
                                counts[code].hits if code in counts else 0)
                   for code in labels]
    # Queries under a purpose no longer configured still count: the register covers them.
    per_purpose += [PurposeCount(g.key, g.label, g.total, g.hits) for g in stats.per_purpose
                    if g.key not in labels]
    local = now.astimezone(ZoneInfo(settings.timezone))
    return Dpia(
        generated_at=local.strftime("%d-%m-%Y %H:%M"), origin=settings.origin,
        scheme=settings.pseudonym_scheme,
        purposes=tuple(_purpose(p) for p in settings.purposes),
        data_categories=data, people=people,
        agencies=tuple(_agency(a) for a in settings.agencies),
        storage=storage(settings), roles=roles(), measures=measures(),
        adversaries=adversaries(), statistics=stats, per_purpose=tuple(per_purpose))


def describe(ctx: Context, principal: Principal, request_id: str, *, via: str) -> Dpia:
    """The description, with the last year's figures; recorded as read (``dpia.read``),
    the figures as shown (``audit.statistics``), before anything is returned."""
    from hitmachine.services import statistics

    if not (principal.may(Permission.READ_AUDIT) or principal.may(Permission.ADMIN)):
        raise Forbidden("only the privacy officer (or the console) may read the DPIA")
    until = local_today(ctx.settings.timezone)
    since = until - dt.timedelta(days=STATISTICS_DAYS - 1)
    stats = statistics.read(ctx, principal, request_id, since=since, until=until,
                            via=f"dpia-{via}")
    ctx.audit.append(AuditRecord.by(principal, "dpia.read", request_id, Outcome.OK, detail={
        "via": via, "from": since.isoformat(), "to": until.isoformat(),
        "purposes": len(ctx.settings.purposes), "agencies": len(ctx.settings.agencies),
        "measures": len(measures())}))
    return build(ctx.settings, stats, now=utc_now())


if __name__ == "__main__":  # `make docs`: docs/privacy.md's adversary table from the data file
    import sys

    doc = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/privacy.md")
    doc.write_text(privacy_doc_with_table(doc.read_text(encoding="utf-8")), encoding="utf-8")


__all__ = ["ADVERSARIES_FILE", "MEASURES_FILE", "Adversary", "AgencyEntry", "Dpia", "Entry",
           "Measure", "PurposeCount", "PurposeEntry", "adversaries", "adversary_table_markdown",
           "age_rule", "build", "cited_tests", "describe", "measures", "privacy_doc_with_table"]
