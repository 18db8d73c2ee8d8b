"""Dutch texts of the web pages: labels, and the domain's (English) field errors in Dutch.

The domain names the field and says what is wrong, never the value; here that becomes a
sentence for the person at the keyboard. A message not known here still gets a sensible
generic sentence, so a new rule in the domain can never produce an untranslated page.
"""

from __future__ import annotations

import re

# The web name of each member field, and how a sentence refers to it.
MEMBER_FIELDS = {  # domain field -> (web field, label, "de ..." for sentences)
    "bsn": ("bsn", "BSN", "het BSN"),
    "given_names": ("voornamen", "Voornamen", "de voornamen"),
    "prefix": ("tussenvoegsel", "Tussenvoegsel", "het tussenvoegsel"),
    "surname": ("achternaam", "Achternaam", "de achternaam"),
    "date_of_birth": ("geboortedatum", "Geboortedatum", "de geboortedatum"),
}
WEB_MEMBER_FIELDS = {web: domain for domain, (web, _, _) in MEMBER_FIELDS.items()}

_EXACT = {
    "must be 8 or 9 digits": "Een BSN bestaat uit 8 of 9 cijfers.",
    "is not a valid BSN (fails the 11-test)":
        "Dit is geen geldig BSN: het voldoet niet aan de elfproef. Controleer de cijfers.",
    "must be a date as YYYY-MM-DD": "Vul de geboortedatum in als dag-maand-jaar, "
                                    "bijvoorbeeld 04-03-2012.",
    "is not an existing date": "Deze datum bestaat niet. Controleer dag en maand.",
    "is before 1880": "De geboortedatum ligt vóór 1880. Controleer het jaar.",
    "is in the future": "De geboortedatum ligt in de toekomst. Controleer het jaar.",
    "a BSN, or surname, given names and date of birth, is required":
        "Vul een BSN in, of voornamen, achternaam en geboortedatum.",
    "needs at least one member": "Vul ten minste één persoon in.",
    "must not contain a BSN (use the case number, not an identifier)":
        "Een zaaknummer mag geen BSN bevatten. Vul alleen het nummer van de casus in.",
    "contains a control character":
        "Hier staat een onzichtbaar stuurteken in. Typ de tekst opnieuw in.",
    "contains a text-direction control character":
        "Hier staat een teken in dat de leesrichting omdraait. Typ de tekst opnieuw in.",
    "contains an invalid character (not UTF-8)":
        "Hier staat een ongeldig teken in. Typ de tekst opnieuw in.",
}


def member_message(domain_field: str, message: str) -> str:
    """A member field's error in Dutch."""
    _, _, phrase = MEMBER_FIELDS.get(domain_field, (domain_field, domain_field, "dit veld"))
    if message in _EXACT:
        return _EXACT[message]
    if message == "is required without a BSN":
        return f"Vul {phrase} in, of vul een BSN in."
    if message == "has no letters":
        return f"{phrase[0].upper()}{phrase[1:]} bevat geen letters."
    if message == "is empty":
        return f"Vul {phrase} in."
    same = re.match(r"names the same person as members\.(\d+)", message)
    if same:
        return (f"Dit is dezelfde persoon als persoon {int(same.group(1)) + 1}; "
                "vraag naar ieder maar één keer.")
    return generic_message(message, phrase)


def generic_message(message: str, phrase: str = "dit veld") -> str:
    if message in _EXACT:
        return _EXACT[message]
    m = re.search(r"at most (\d+) characters", message)
    if m:
        return f"Vul hier hoogstens {m.group(1)} tekens in."
    if message in ("is required", "Field required", "is empty"):
        return f"Vul {phrase} in."
    return f"Controleer {phrase}."


EVENTS = {
    "query.household": "Vraag over huishouden",
    "auth.signin": "Aangemeld",
    "auth.signin_failed": "Aanmelden mislukt",
    "auth.signout": "Afgemeld",
    "auth.locked": "Account geblokkeerd",
    "auth.unlock": "Account ontgrendeld",
    "auth.denied": "Toegang geweigerd",
    "auth.denied_summary": "Toegang geweigerd (samengevat)",
    "auth.factor_enrolled": "Tweede factor gekoppeld",
    "auth.factor_verified": "Tweede factor gecontroleerd",
    "auth.factor_failed": "Tweede factor onjuist",
    "auth.recovery_code_used": "Herstelcode gebruikt",
    "auth.factor_reset": "Tweede factor teruggezet",
    "token.list": "Tokens ingezien",
    "key.list": "Sleutelversies ingezien",
    "user.list": "Accounts ingezien",
    "publish.status": "Publicatiestatus opgevraagd",
    "audit.read": "Auditlog ingezien",
    "audit.export": "Auditlog geëxporteerd",
    "audit.verify": "Keten geverifieerd",
    "audit.checkpoint": "Checkpoint ondertekend",
    "audit.subject": "Inzageverzoek betrokkene",
    "audit.statistics": "Statistieken ingezien",
    "dpia.read": "DPIA-beschrijving ingezien",
    "audit.proof": "Bewijs opgevraagd",
    "publish.open": "Publicatie geopend",
    "publish.batch": "Publicatie: deel ontvangen",
    "publish.commit": "Publicatie vastgelegd",
    "publish.abandon": "Publicatie afgebroken",
    "publish.delta": "Publicatie: wijzigingen",
    "token.create": "Token aangemaakt",
    "token.revoke": "Token ingetrokken",
    "token.admin": "Tokenbeheer",
    "key.rotate": "Sleutel vernieuwd",
    "key.retire": "Sleutel buiten gebruik",
    "key.export": "Sleutels geëxporteerd",
    "key.admin": "Sleutelbeheer",
    "user.create": "Account aangemaakt",
    "user.password": "Wachtwoord ingesteld",
    "user.disable": "Account uitgeschakeld",
    "user.enable": "Account ingeschakeld",
    "signal.create": "Melding verstuurd",
    "signal.fetch": "Meldingen opgehaald",
    "signal.ack": "Melding afgehandeld",
    "signal.expire": "Meldingen verlopen",
    "follow_up.open": "Volgvraag gestart",
    "follow_up.list": "Volgvragen ingezien",
    "follow_up.change": "Volgvraag: nieuwe partner",
    "follow_up.end": "Volgvraag beëindigd",
    "follow_up.expire": "Volgvraag verlopen",
}

# The kinds of signal (issue 16), as the inbox and the statistics name them.
SIGNAL_KINDS = {
    "hit": "Treffer bij partnervraag",
    "follow_up": "Volgvraag: nieuwe partner",
    "partner_query": "Partnervraag",
}

OUTCOMES = {
    "hit": "treffer",
    "no_hit": "geen treffer",
    "ok": "gelukt",
    "denied": "geweigerd",
    "invalid": "ongeldige invoer",
    "error": "fout",
}

ROLES = {
    "coordinator": "informatiecoördinator",
    "privacy-officer": "functionaris gegevensbescherming",
    "admin": "beheerder",
    "adapter": "adapter",
    "partner": "ketenpartner",
    "researcher": "onderzoeker",
}

BASIS = {
    "bsn": "op BSN",
    "name_birthdate": "op naam en geboortedatum",
}

SIGNOUT_REASONS = {
    "idle": "U bent automatisch afgemeld omdat u een tijd niet actief was.",
    "max_age": "U bent automatisch afgemeld omdat uw sessie te lang duurde.",
    "disabled": "U bent afgemeld omdat uw account is uitgeschakeld.",
    "afgemeld": "U bent afgemeld.",
    # The second factor (hitmachine/http/web/routes/factor.py): back to the password.
    "code_verlopen": "Het aanmelden duurde te lang of is opnieuw begonnen. Meld u opnieuw "
                     "aan met uw gebruikersnaam en wachtwoord.",
    "code_geblokkeerd": "Er is te vaak een verkeerde code ingevuld. Het account is tijdelijk "
                        "geblokkeerd; neem contact op met de beheerder als u er niet meer "
                        "in komt.",
}

# The pages of the second factor (hitmachine/http/web/routes/factor.py).
FACTOR = {
    "code_empty": "Vul de code uit uw authenticator-app in, of een herstelcode.",
    "code_wrong": "Deze code klopt niet, of is al gebruikt. Vul de code in die uw app nu "
                  "toont (elke code werkt één keer), of een herstelcode die u nog niet "
                  "heeft gebruikt. Na {attempts} mislukte pogingen op rij wordt het account "
                  "geblokkeerd.",
    "enrol_empty": "Vul de code van zes cijfers in die uw authenticator-app nu toont.",
    "enrol_wrong": "Deze code klopt niet. Controleer of de klok van uw telefoon goed staat en "
                   "vul de code in die de app nu toont. Na {attempts} mislukte pogingen op "
                   "rij wordt het account geblokkeerd.",
    "too_many": "Er is de laatste tijd te vaak geprobeerd aan te melden. Probeer het na "
                "{until} opnieuw. Uw code is niet gecontroleerd.",
    "qr_label": "QR-code met de sleutel voor uw authenticator-app",
}


def event_label(code: str) -> str:
    return EVENTS.get(code, code)


def outcome_label(code: str) -> str:
    return OUTCOMES.get(code, code)


def role_label(code: str) -> str:
    return ROLES.get(code, code)


__all__ = ["BASIS", "EVENTS", "FACTOR", "MEMBER_FIELDS", "OUTCOMES", "ROLES", "SIGNOUT_REASONS",
           "WEB_MEMBER_FIELDS", "event_label", "generic_message", "member_message",
           "SIGNAL_KINDS", "outcome_label", "role_label"]
