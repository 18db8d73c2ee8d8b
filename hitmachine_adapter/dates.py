"""Birth dates as a mapping writes them (``date_formats``): ``%d``, ``%m``, ``%Y`` and
literal characters, checked when the mapping loads and applied to every row."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise

from hitmachine.core.errors import InvalidInput

_DIRECTIVES = {
    "d": r"(?P<d>\d{1,2})", "m": r"(?P<m>\d{1,2})", "Y": r"(?P<Y>\d{4})",
    "H": r"\d{1,2}", "M": r"\d{1,2}", "S": r"\d{1,2}", "f": r"\d{1,9}",
}


class DateParser:
    """Birth dates written as the mapping's formats say: ``%d``, ``%m``, ``%Y`` and literal
    characters (``%H``, ``%M``, ``%S``, ``%f`` allow a time part, which is ignored).
    Two-digit years are refused: "01-02-03" is no birth date anyone can trust."""

    def __init__(self, formats: Sequence[str]) -> None:
        self.formats = tuple(formats)
        self._patterns = [self.compile(f) for f in formats]
        self.parse = lru_cache(maxsize=65536)(self._parse)

    @staticmethod
    def compile(fmt: str) -> re.Pattern[str]:
        tokens: list[tuple[bool, str]] = []   # (is a directive, directive letter or literal)
        i = 0
        seen: set[str] = set()
        while i < len(fmt):
            ch = fmt[i]
            if ch == "%":
                if i + 1 >= len(fmt):
                    raise ValueError("ends with a lone %")
                d = fmt[i + 1]
                if d == "y":
                    raise ValueError("two-digit years (%y) are ambiguous for birth dates; use %Y")
                if d not in _DIRECTIVES:
                    raise ValueError(f"%{d} is not supported (use %d, %m, %Y and literals)")
                if d in seen and d in "dmY":
                    raise ValueError(f"%{d} appears twice")
                seen.add(d)
                tokens.append((d != "%", d))
                i += 2
            else:
                tokens.append((False, ch))
                i += 1
        if not {"d", "m", "Y"} <= seen:
            raise ValueError("needs %d, %m and %Y")
        # Digits run together ("%Y%m%d": 19820310) only parse unambiguously at fixed widths.
        packed = any(a[0] and b[0] for a, b in pairwise(tokens))
        out = []
        for is_directive, value in tokens:
            if not is_directive:
                out.append(r"\s+" if value == " " else re.escape(value if value != "%" else "%"))
            elif packed and value in "dmHMS":
                out.append(_DIRECTIVES[value].replace(r"\d{1,2}", r"\d{2}"))
            else:
                out.append(_DIRECTIVES[value])
        return re.compile("".join(out))

    def _parse(self, text: str) -> dt.date:
        for pattern in self._patterns:
            m = pattern.fullmatch(text)
            if m is not None:
                try:
                    return dt.date(int(m["Y"]), int(m["m"]), int(m["d"]))
                except ValueError:
                    raise InvalidInput("date_of_birth", "is not an existing date") from None
        shown = " or ".join(f.replace("%d", "dd").replace("%m", "mm").replace("%Y", "jjjj")
                            for f in self.formats)
        raise InvalidInput("date_of_birth", f"is not a date as the mapping says ({shown})")


__all__ = ["DateParser"]
