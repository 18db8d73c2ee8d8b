"""Prune statements: the signed permission to clear the contents of old audit records.

Pruning keeps a record's leaf hash but clears its contents, so the verifier cannot
recompute that leaf: it has to be told the record was pruned on purpose. A database
writer can insert any record, so that permission is a note signed with the checkpoint key
(the C2SP signed-note envelope of ``hitmachine.core.auditlog.checkpoint``), kept in the
``detail.statement`` of the ``audit.prune`` record that the pruning writes::

    hitmachine/audit-prune/1                       the statement type (never an origin)
    hitmachine.veiligheidshuis.local/audit         the log (HITMACHINE_ORIGIN)
    before_seq 1234                                records with seq below this may be pruned
    retention_days 730                             the retention that allowed it
    cutoff 2024-12-02T03:00:00.000000Z             signed_at - retention_days
    signed_at 2026-12-02T03:00:00.000000Z          when the pruning ran

The first line differs from every origin a checkpoint can carry in its place, and the
second line of a checkpoint is a bare number: neither note can pass for the other.
Pure module: no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from hitmachine.core.clock import iso_utc, parse_iso_utc
from hitmachine.core.errors import InvalidProof

__all__ = ["STATEMENT_TYPE", "PruneStatement"]

STATEMENT_TYPE = "hitmachine/audit-prune/1"
_DECIMAL = r"(0|[1-9][0-9]{0,18})"
_ISO = r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z)"
_BODY = re.compile(
    re.escape(STATEMENT_TYPE) + r"\n([^\n]+)\n"
    rf"before_seq {_DECIMAL}\nretention_days {_DECIMAL}\ncutoff {_ISO}\nsigned_at {_ISO}\n")


@dataclass(frozen=True, slots=True)
class PruneStatement:
    """Who may prune what: records of ``origin`` below ``before_seq``, all recorded before
    ``cutoff``, which is ``signed_at`` minus ``retention_days``."""

    origin: str
    before_seq: int
    retention_days: int
    signed_at: str

    @property
    def cutoff(self) -> str:
        return iso_utc(parse_iso_utc(self.signed_at) - dt.timedelta(days=self.retention_days))

    def body(self) -> str:
        """The note text to sign, every line ending in a newline."""
        return (f"{STATEMENT_TYPE}\n{self.origin}\nbefore_seq {self.before_seq}\n"
                f"retention_days {self.retention_days}\ncutoff {self.cutoff}\n"
                f"signed_at {self.signed_at}\n")

    @classmethod
    def parse(cls, body: str) -> PruneStatement:
        """Read a statement body strictly (one spelling per statement); InvalidProof
        otherwise, also when its cutoff is not its date minus its retention."""
        match = _BODY.fullmatch(body)
        if match is None:
            raise InvalidProof("the prune statement is malformed")
        origin, before, days, cutoff, signed_at = match.groups()
        try:
            statement = cls(origin, int(before), int(days), signed_at)
            derived = statement.cutoff
        except (ValueError, OverflowError):
            raise InvalidProof("the prune statement has an impossible date") from None
        if derived != cutoff:
            raise InvalidProof("the prune statement's cutoff is not its date minus its "
                               "retention")
        return statement
