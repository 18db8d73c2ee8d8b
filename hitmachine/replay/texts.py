"""The replay report's words, in Dutch (the default, like the rest of the product) and in
English (``--lang en``, for researchers abroad). Both languages have exactly the same keys;
``tests/replay`` checks that."""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = ("nl", "en")
DEFAULT_LANGUAGE: Final = "nl"

NL: dict[str, str] = {
    "title": "Herhaling van de handmatige Hitmachine-test",
    "subtitle": "Peildatum {ref} · organisaties: {agencies} · run {run}",
    "households": "huishoudens",
    "individuals": "personen",
    "n_individuals": "{n} personen",
    "households_with_hits": "huishoudens met een treffer",
    "households_without_hits": "huishoudens zonder treffer",
    "multi_agency": "huishoudens bij meerdere organisaties",
    "multi_agency_detail": "bekend bij twee of meer organisaties",
    "individuals_with_hits": "personen met een treffer",
    "comparison": "Handmatige antwoorden: {manual} van {households} huishoudens nergens bekend; "
                  "machine: {machine}. Zelfde antwoord op {agreed} van {rows} handmatige rijen "
                  "({share}).",
    "headline_label": "kerncijfers",
    # sections
    "h_hits": "Treffers per organisatie",
    "h_combinations": "Huishoudens per combinatie van organisaties",
    "h_people": "Personen per combinatie van organisaties",
    "people_intro": "Dezelfde telling per persoon: welke organisaties kennen dezelfde persoon. "
                    "Twee organisaties die elk een ander lid van een huishouden kennen, vormen "
                    "wel een combinatie voor het huishouden, maar niet voor een persoon.",
    "h_agreement": "Overeenstemming met de handmatige antwoorden",
    "h_differ": "Rijen waar de antwoorden verschillen",
    "h_method": "Werkwijze",
    "generated": "Gemaakt door Hitmachine {version}.",
    # tables
    "agency": "organisatie",
    "of_all_households": "van alle huishoudens",
    "on_bsn": "gevonden op BSN",
    "on_name": "op naam en geboortedatum",
    "agency_note": "Een persoon die bij een organisatie op beide gronden bekend is, telt één "
                   "keer, als BSN-treffer.",
    "combination_households": "organisaties die het huishouden kennen",
    "combination_people": "organisaties die de persoon kennen",
    "share": "aandeel",
    "agency_count": "aantal organisaties",
    "none": "nergens bekend",
    "manual_rows": "handmatige rijen",
    "tp": "terecht positief",
    "fp": "fout positief",
    "fn": "fout negatief",
    "tn": "terecht negatief",
    "same_answer": "zelfde antwoord",
    "different_answer": "ander antwoord",
    "kappa": "Cohens kappa",
    "agreement_note": "terecht positief: machine bekend, handmatig bekend; fout positief: machine "
                      "bekend, handmatig niet; fout negatief: machine niet, handmatig bekend; "
                      "terecht negatief: geen van beide. Cohens kappa corrigeert de "
                      "overeenstemming voor toeval (1 = volledig, 0 = op toevalsniveau).",
    "household": "huishouden",
    "member": "persoon",
    "manual": "handmatig",
    "machine": "machine",
    "basis": "grond",
    "age": "leeftijd op peildatum",
    "rule": "leeftijdsregel",
    "explanation": "verklaring",
    "known": "bekend",
    "not_known": "niet bekend",
    "basis_bsn": "BSN",
    "basis_name_birthdate": "naam en geboortedatum",
    "why_outside_rule": "leeftijd buiten de regel: niet verstrekt",
    "why_name": "gevonden op naam en geboortedatum, zonder BSN",
    "why_bsn": "gevonden op BSN",
    "why_no_match": "binnen de regel; geen overeenkomst gevonden",
    "why_not_disclosed": "geen treffer verstrekt",
    "differ_note": "grond: waarop de machine de persoon vond; leeftijd: in hele jaren op de "
                   "peildatum, waarop de verstrekkingsregel van de organisatie berust.",
    "differ_some": "De eerste {shown} van {total} staan hier; alle volgen uit summary.json en "
                   "het handmatige bestand.",
    "differ_none": "De machine gaf op elke rij het handmatige antwoord.",
    "unknown": "onbekend",
    # rules
    "rule_everyone": "iedereen",
    "rule_from": "{low} jaar en ouder",
    "rule_upto": "tot en met {high} jaar",
    "rule_between": "{low} tot en met {high} jaar",
    # method
    "where_embedded": "een nieuwe ingebouwde Hitmachine (SQLite, nieuwe sleutels, daarna "
                      "verwijderd)",
    "where_kept": "een nieuwe ingebouwde Hitmachine, bewaard in {directory}",
    "where_server": "de Hitmachine op {server}",
    "m_path": "Herhaald op {where}, langs dezelfde weg als bij gewoon gebruik: de extracten "
              "zijn gepubliceerd via de adapter van de organisaties (genormaliseerd en "
              "gepseudonimiseerd vóór verzending, één atomaire momentopname per organisatie), "
              "en over elk huishouden is één vraag gesteld aan de vraag-API, doel '{purpose}', "
              "met als vraagdatum de peildatum {ref}.",
    "m_queries": "Er zijn {queries} vragen gesteld; elke vraag staat in het auditlog van de "
                 "instantie onder het zaaknummer '{prefix} <huishouden-id>'.",
    "m_matching": "Het matchen is dat van de dienst zelf: gelijke BSN's (een BSN van 8 cijfers "
                  "krijgt zijn voorloopnul terug), of, als een van beide kanten geen BSN heeft, "
                  "gelijke naamsleutels (tussenvoegsel en achternaam teruggebracht tot letters "
                  "zonder accenten of hoofdletters, de geboortedatum, de eerste voorletter). Twee "
                  "verschillende BSN's matchen nooit.",
    "m_rules": "Verstrekkingsregels, leeftijd in hele jaren op {ref}: {rules}. Een treffer "
               "buiten de regel van een organisatie wordt niet verstrekt en telt als niet "
               "bekend.",
    "m_rules_server": "Verstrekkingsregels: zoals ingesteld op {server}, leeftijd in hele jaren "
                      "op {ref}. Een treffer buiten de regel van een organisatie telt als niet "
                      "bekend.",
    "m_agencies": "Deelnemende organisaties (die met een extractbestand): {agencies}. Treffers "
                  "bij andere organisaties tellen niet mee.",
    "m_published": "Gepubliceerd: {published}.",
    "m_published_one": "{agency}: {rows} rijen, {entries} gepubliceerd",
    "m_rejected": ", {rejected} geweigerd door de adapter",
    "m_not_published": "De extracten zijn niet door deze run gepubliceerd (--no-publish): de "
                       "antwoorden berusten op wat de organisaties op de server hadden "
                       "gepubliceerd.",
    "m_compared": "De overeenstemming is geteld over de {rows} handmatige rijen, met het "
                  "handmatige antwoord als maatstaf.",
    "m_not_compared": " Niet vergeleken (geen extractbestand): {skipped}.",
    "m_not_compared_one": "{n} voor {agency}",
    "m_run": "Run {run}, gestart {started}; duurde {took} ({phases}); Hitmachine {version}.",
    "phase_checking": "controleren",
    "phase_starting": "starten",
    "phase_publishing": "publiceren",
    "phase_asking": "vragen",
    "privacy": "Dit rapport bevat alleen huishouden- en persoon-id's, organisatiecodes, aantallen "
               "en, in de rijen waar de antwoorden verschillen, leeftijden in hele jaren: geen "
               "namen, BSN's of geboortedata.",
    # charts
    "c_hits_axis": "bekend bij de organisatie (verstrekte treffers)",
    "c_hits_subtitle": "{households} huishoudens, {individuals} personen gevraagd",
    "c_hits_alt": "Staafdiagram van de huishoudens en personen die bij elke organisatie bekend "
                  "zijn.",
    "c_combinations_subtitle": "staven: huishoudens; stippen eronder: de organisaties die iemand "
                               "in het huishouden kennen (geen stip: nergens bekend)",
    "c_combinations_alt": "UpSet-diagram: huishoudens per combinatie van organisaties die hen "
                          "kennen.",
    "c_manual_answer": "handmatig antwoord",
    "c_agreement_subtitle": "geteld over de handmatige rijen; het handmatige antwoord is de "
                            "maatstaf",
    "c_agreement_alt": "Per organisatie de antwoorden van de machine tegen de handmatige "
                       "antwoorden.",
}

EN: dict[str, str] = {
    "title": "Replay of the manual Hitmachine test",
    "subtitle": "Reference date {ref} · agencies: {agencies} · run {run}",
    "households": "households",
    "individuals": "individuals",
    "n_individuals": "{n} individuals",
    "households_with_hits": "households with a hit",
    "households_without_hits": "households without a hit",
    "multi_agency": "multi-agency households",
    "multi_agency_detail": "known at two or more agencies",
    "individuals_with_hits": "individuals with a hit",
    "comparison": "Manual answers: {manual} of {households} households known nowhere; machine: "
                  "{machine}. Same answer on {agreed} of {rows} manual rows ({share}).",
    "headline_label": "headline figures",
    "h_hits": "Hits per agency",
    "h_combinations": "Households by combination of agencies",
    "h_people": "Individuals by combination of agencies",
    "people_intro": "The same count per person: which agencies know the same person. Two "
                    "agencies that each know a different member of a household make a "
                    "combination for the household, but not for a person.",
    "h_agreement": "Agreement with the manual answers",
    "h_differ": "Rows where the answers differ",
    "h_method": "Method",
    "generated": "Generated by Hitmachine {version}.",
    "agency": "agency",
    "of_all_households": "of all households",
    "on_bsn": "matched on BSN",
    "on_name": "on name and birth date",
    "agency_note": "An individual known at an agency on both bases counts once, as a BSN "
                   "match.",
    "combination_households": "agencies that know the household",
    "combination_people": "agencies that know the individual",
    "share": "share",
    "agency_count": "number of agencies",
    "none": "none",
    "manual_rows": "manual rows",
    "tp": "true positive",
    "fp": "false positive",
    "fn": "false negative",
    "tn": "true negative",
    "same_answer": "same answer",
    "different_answer": "different answer",
    "kappa": "Cohen's kappa",
    "agreement_note": "true positive: machine known, manual known; false positive: machine "
                      "known, manual not; false negative: machine not, manual known; true "
                      "negative: neither. Cohen's kappa corrects the agreement for chance (1 = "
                      "perfect, 0 = chance level).",
    "household": "household",
    "member": "member",
    "manual": "manual",
    "machine": "machine",
    "basis": "basis",
    "age": "age on the reference date",
    "rule": "age rule",
    "explanation": "explanation",
    "known": "known",
    "not_known": "not known",
    "basis_bsn": "BSN",
    "basis_name_birthdate": "name and birth date",
    "why_outside_rule": "age outside the rule: not disclosed",
    "why_name": "found on name and birth date, without a BSN",
    "why_bsn": "found on BSN",
    "why_no_match": "within the rule; no match found",
    "why_not_disclosed": "no hit disclosed",
    "differ_note": "basis: what the machine found the person on; age: in whole years on the "
                   "reference date, which the agency's disclosure rule turns on.",
    "differ_some": "The first {shown} of {total} are shown; all follow from summary.json and "
                   "the manual file.",
    "differ_none": "The machine gave the manual answer on every row.",
    "unknown": "unknown",
    "rule_everyone": "everyone",
    "rule_from": "ages {low} and over",
    "rule_upto": "ages up to {high}",
    "rule_between": "ages {low} to {high}",
    "where_embedded": "a fresh embedded Hitmachine (SQLite, new keys, removed afterwards)",
    "where_kept": "a fresh embedded Hitmachine kept in {directory}",
    "where_server": "the Hitmachine at {server}",
    "m_path": "Replayed on {where}, through the same path as live use: the extracts were "
              "published through the agencies' adapter (normalised and pseudonymised before "
              "sending, one atomic snapshot per agency), and each household was asked about in "
              "one query to the query API, purpose '{purpose}', with the query date set to the "
              "reference date {ref}.",
    "m_queries": "{queries} queries were made; each is in the instance's audit log under the "
                 "case reference '{prefix} <household id>'.",
    "m_matching": "Matching is the service's own: equal BSNs (an 8-digit BSN gets its leading "
                  "zero back), or, when either side has no BSN, equal name keys (prefix and "
                  "surname folded to letters without accents or case, the birth date, the first "
                  "initial). Two different BSNs never match.",
    "m_rules": "Disclosure rules, ages in whole years on {ref}: {rules}. A hit outside an "
               "agency's rule is not disclosed and counts as not known.",
    "m_rules_server": "Disclosure rules: as configured on {server}, ages in whole years on "
                      "{ref}. A hit outside an agency's rule counts as not known.",
    "m_agencies": "Agencies taking part (those with an extract file): {agencies}. Hits at any "
                  "other agency are not counted.",
    "m_published": "Published: {published}.",
    "m_published_one": "{agency}: {rows} rows, {entries} published",
    "m_rejected": ", {rejected} rejected by the adapter",
    "m_not_published": "The extracts were not published by this run (--no-publish): the answers "
                       "rest on what the agencies had published on the server.",
    "m_compared": "Agreement is counted over the {rows} manual rows, with the manual answer as "
                  "the reference.",
    "m_not_compared": " Not compared (no extract file): {skipped}.",
    "m_not_compared_one": "{n} for {agency}",
    "m_run": "Run {run}, started {started}; took {took} ({phases}); Hitmachine {version}.",
    "phase_checking": "checking",
    "phase_starting": "starting",
    "phase_publishing": "publishing",
    "phase_asking": "asking",
    "privacy": "This report holds household and member ids, agency codes, counts and, in the "
               "rows where the answers differ, ages in whole years: no names, BSNs or birth "
               "dates.",
    "c_hits_axis": "known at the agency (disclosed hits)",
    "c_hits_subtitle": "{households} households, {individuals} individuals asked",
    "c_hits_alt": "Bar chart of the households and individuals known at each agency.",
    "c_combinations_subtitle": "bars: households; dots below: the agencies that know someone in "
                               "them (no dot: known nowhere)",
    "c_combinations_alt": "UpSet-style chart: households per combination of agencies that know "
                          "them.",
    "c_manual_answer": "manual answer",
    "c_agreement_subtitle": "counted over the manual rows; the manual answer is the reference",
    "c_agreement_alt": "Per agency, the machine's answers against the manual answers.",
}

_TEXTS = {"nl": NL, "en": EN}


class Words:
    """The words of one language: ``words("key", name=value)`` fills the placeholders."""

    def __init__(self, lang: str) -> None:
        if lang not in _TEXTS:
            raise ValueError(f"unknown language {lang!r}")
        self.lang = lang
        self._texts = _TEXTS[lang]

    def __call__(self, key: str, **values: object) -> str:
        text = self._texts[key]
        return text.format(**values) if values else text

    def number(self, value: float, decimals: int = 1) -> str:
        """Dutch writes a decimal comma."""
        text = f"{value:.{decimals}f}"
        return text.replace(".", ",") if self.lang == "nl" else text

    def pct(self, part: int, whole: int) -> str:
        return f"{self.number(100 * part / whole)}%" if whole else "–"

    def seconds(self, value: float) -> str:
        return (f"{self.number(value)} s" if value < 120
                else f"{self.number(value / 60)} min")

    def rule(self, limits: tuple[int | None, int | None]) -> str:
        low, high = limits
        if low is None and high is None:
            return self("rule_everyone")
        if high is None:
            return self("rule_from", low=low)
        if low is None:
            return self("rule_upto", high=high)
        return self("rule_between", low=low, high=high)


__all__ = ["DEFAULT_LANGUAGE", "EN", "LANGUAGES", "NL", "Words"]
