"""Time, in the two forms Hitmachine needs: UTC instants for audit records, and the local
calendar date on which ages (and so the disclosure rules) are evaluated."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso_utc(moment: dt.datetime) -> str:
    """Fixed-width ISO-8601 with microseconds and ``Z``: sorts as text, hashes stably.
    (isoformat with a fixed timespec writes the same text as strftime, at half the cost;
    every audit record needs one.)"""
    naive = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return naive.isoformat(timespec="microseconds") + "Z"


def utc_now_iso() -> str:
    return iso_utc(utc_now())


def parse_iso_utc(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def local_today(timezone: str) -> dt.date:
    return dt.datetime.now(ZoneInfo(timezone)).date()


__all__ = ["iso_utc", "local_today", "parse_iso_utc", "utc_now", "utc_now_iso"]
