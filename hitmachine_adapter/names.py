"""Dutch surname prefixes (voorvoegsels, tussenvoegsels) as registration systems write them.

The name key folds prefix + surname together (``hitmachine.core.identity``), so "van der
Berg" needs no splitting: however the parts are divided, the letters are the same. What
does change the letters is how some systems *write* a combined surname field:

- sorted form: ``"Berg, van der"`` (the prefix after a comma) must become "van der" + "Berg";
- abbreviations: ``"v.d. Berg"``, ``"v/d Berg"``, ``"vd Berg"`` must become "van der Berg".

``split_surname`` does both and returns (prefix, surname); ``expand_prefix`` expands the
abbreviations in a separate prefix column. Anything it cannot read with certainty is an
error naming the field, never a guess: a wrong guess would silently make a person
unfindable.
"""

from __future__ import annotations

from hitmachine.core.errors import InvalidInput

# The words of the voorvoegsels in the BRP's table of prefixes (Dutch, and the foreign ones
# that Dutch registrations carry), lower case.
PREFIX_WORDS = frozenset("""
    aan af al am an auf aus ben bij bin d' da dal dalla das de del della dem den der des di
    do dos du el em en het in l' la las le les lo los op over 's 't te ten ter tho thoe thor
    to toe tot uijt uit unter van ver vom von voor vor y zu zum zur
""".split())

# Abbreviations clerks type for the common prefixes, and what they stand for.
ABBREVIATIONS = {
    "v": "van", "v.": "van",
    "vd": "van der", "v.d": "van der", "v.d.": "van der", "v/d": "van der", "vd.": "van der",
    "v.den": "van den", "v.d.n.": "van den", "vdn": "van den",
    "v.h.": "van het", "v/h": "van het", "vh": "van het",
    "i.t.": "in 't", "i/t": "in 't",
}


def _expand(word: str) -> str | None:
    """The prefix word(s) that ``word`` is or stands for, or None if it is no prefix."""
    lowered = word.casefold().replace("\u2019", "'")
    if lowered in ABBREVIATIONS:
        return ABBREVIATIONS[lowered]
    if lowered in PREFIX_WORDS:
        return word
    return None


def expand_prefix(prefix: str | None) -> str | None:
    """A prefix column's value with abbreviations written out ("v.d." -> "van der").
    Words that are not abbreviations are kept as they are."""
    if prefix is None:
        return None
    words = prefix.split()
    if not words:
        return None
    out = []
    for word in words:
        expanded = _expand(word)
        out.append(word if expanded is None else expanded)
    return " ".join(out)


def split_surname(combined: str | None, *, field: str = "surname") -> tuple[str | None, str | None]:
    """Split a combined surname field into (prefix, surname).

    ``"Berg, van der"`` and ``"van der Berg"`` and ``"v.d. Berg"`` all give
    ``("van der", "Berg")``; ``"Jansen"`` gives ``(None, "Jansen")``; double names keep
    their second part's prefix in the surname (``"Jansen-van der Berg"``). Raises
    ``InvalidInput`` on ``field`` when the part after a comma is not a prefix (for example
    given names typed into the surname field): that person could not be found by name.
    """
    if combined is None:
        return None, None
    text = " ".join(combined.split())
    if not text:
        return None, None
    if "," in text:
        main, _, tail = text.partition(",")
        main, tail = main.strip(), tail.strip()
        if "," in tail:
            raise InvalidInput(field, "has more than one comma")
        if not main:
            raise InvalidInput(field, "has nothing before the comma")
        if not tail:
            return None, main
        words = [_expand(w) for w in tail.split()]
        if any(w is None for w in words):
            raise InvalidInput(field, "has text after the comma that is not a prefix "
                                      "(tussenvoegsel)")
        lead_prefix, surname = _leading_prefix(main)
        prefix = " ".join(w for w in words if w)
        if lead_prefix:  # "Berg, van der" is usual; "v.d. Berg, " is odd but unambiguous
            prefix = f"{prefix} {lead_prefix}"
        return prefix, surname
    return _leading_prefix(text)


def _leading_prefix(text: str) -> tuple[str | None, str]:
    """Leading prefix words off ``text``; at least one word always stays the surname."""
    words = text.split()
    taken: list[str] = []
    i = 0
    while i < len(words) - 1:
        expanded = _expand(words[i])
        if expanded is None:
            break
        taken.append(expanded)
        i += 1
    return (" ".join(taken) or None), " ".join(words[i:])


__all__ = ["ABBREVIATIONS", "PREFIX_WORDS", "expand_prefix", "split_surname"]
