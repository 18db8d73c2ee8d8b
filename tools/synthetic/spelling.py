"""Spelling variants: the ways another system may write the same name, and near misses a
person reads as the same name but the name key does not."""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterable
from dataclasses import replace

from tools.synthetic.names import NEAR_MISSES
from tools.synthetic.rules import Record


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _variant(record: Record, style: str) -> Record:
    """One way another system may write the same name. The caller checks the key still folds."""
    given, prefix, surname = record.given_names, record.prefix, record.surname
    if style == "strip":  # a system without diacritics: Çelik -> Celik
        return replace(record, given_names=_strip_marks(given), prefix=_strip_marks(prefix),
                       surname=_strip_marks(surname))
    if style == "join_prefix" and prefix:  # one surname field: "Van der Berg"
        return replace(record, prefix="", surname=f"{_capitalised(prefix)} {surname}")
    if style == "concat_upper":  # mainframe style: VANDERBERG, ELIDRISSI
        letters = "".join(c for c in prefix + surname if c.isalpha())
        return replace(record, prefix="", surname=letters.upper())
    if style == "upper":
        return replace(record, prefix=prefix.upper(), surname=surname.upper())
    if style == "first_given":
        return replace(record, given_names=given.split()[0])
    if style == "initials":
        return replace(record, given_names="".join(f"{n[0].upper()}." for n in given.split()))
    if style == "hyphen" and " " in surname:
        return replace(record, surname=surname.replace(" ", "-"))
    if style == "hyphen" and "-" in surname:
        return replace(record, surname=surname.replace("-", " "))
    return record


VARIANT_STYLES = ("strip", "join_prefix", "concat_upper", "upper", "first_given", "initials",
                  "hyphen")
VISIBLE_STYLES = ("strip", "join_prefix", "concat_upper", "hyphen")  # a person may miss these


def folding_variants(record: Record, styles: Iterable[str]) -> list[str]:
    """Styles that change how ``record`` is written but not its name key.

    Some do not qualify for some names: upper-casing 'Yılmaz' gives 'YILMAZ', which folds to
    'yilmaz' and no longer to 'yılmaz' (the dotless i has no decomposition).
    """
    return [s for s in styles
            if (v := _variant(record, s)) != record and v.name_key == record.name_key]


def spelled_differently(rng: random.Random, record: Record, *, visible: bool = False) -> Record:
    """``record`` in one or two folding-equal spelling variants."""
    preferred = folding_variants(record, VISIBLE_STYLES) if visible else []
    styles = preferred or folding_variants(record, VARIANT_STYLES)
    if not styles:
        return record
    chosen = rng.sample(styles, k=min(len(styles), rng.choice((1, 1, 2))))
    if preferred and not set(chosen) & set(VISIBLE_STYLES):
        chosen.append(preferred[0])
    for style in chosen:
        candidate = _variant(record, style)
        if candidate.name_key == record.name_key:
            record = candidate
    return record


def near_miss(surname: str) -> str:
    """A surname a person reads as the same one but which folds differently (Jansen/Janssen)."""
    if surname in NEAR_MISSES:
        return NEAR_MISSES[surname]
    if "ij" in surname:
        return surname.replace("ij", "y", 1)
    for i in range(len(surname) - 1):
        if surname[i] == surname[i + 1]:
            return surname[:i] + surname[i + 1:]
    return surname + ("s" if surname.endswith("e") else "e")


__all__ = ["VARIANT_STYLES", "VISIBLE_STYLES", "folding_variants", "near_miss",
           "spelled_differently"]
