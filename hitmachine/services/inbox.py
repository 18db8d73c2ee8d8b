"""The coordinators' web inbox ("Meldingen", issue 16 item 5): the use cases of
``hitmachine.services.signals`` put together for one page.

Every read and change goes through ``services.signals``, which writes the audit records
(``signal.fetch``, ``follow_up.list``, ``signal.ack``, ``follow_up.end``). The one thing
added here is the number of new signals in the menu: a count of the user's own inbox on
every page, which shows nothing about any signal and is therefore not audited (auditing
it would put a record in the log for every page a coordinator opens).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from hitmachine.core.clock import utc_now_iso
from hitmachine.core.principal import Permission, Principal
from hitmachine.services import signals as signal_service
from hitmachine.services.context import Context
from hitmachine.store.schema import signals as signals_table
from hitmachine.store.signals import FollowUp, Signal


@dataclass(frozen=True, slots=True)
class Inbox:
    new: list[Signal]
    acknowledged: list[Signal]
    follow_ups: list[FollowUp]


def view(ctx: Context, principal: Principal, request_id: str) -> Inbox:
    """The page: the signals (new and acknowledged, newest first) and the open follow-ups
    of the principal's organisation; both fetches audited by ``services.signals``."""
    found = signal_service.list_signals(ctx, principal, request_id, include_acked=True)
    follow_ups = signal_service.list_follow_ups(ctx, principal, request_id)
    newest = list(reversed(found))
    return Inbox(new=[s for s in newest if s.acked_at is None],
                 acknowledged=[s for s in newest if s.acked_at is not None],
                 follow_ups=sorted(follow_ups, key=lambda f: f.expires_at))


def new_count(ctx: Context, principal: Principal) -> int:
    """How many live, unacknowledged signals wait in the principal's inbox (0 for a role
    that reads none). One indexed count (``recipient, acked_at``)."""
    if not principal.may(Permission.READ_SIGNALS):
        return 0
    inbox = signal_service.inbox_of(principal)
    stmt = select(func.count()).select_from(signals_table).where(
        signals_table.c.recipient == inbox, signals_table.c.acked_at.is_(None),
        signals_table.c.expires_at > utc_now_iso())
    with ctx.db.read() as conn:
        return int(conn.execute(stmt).scalar_one())


__all__ = ["Inbox", "new_count", "view"]
