"""Prometheus metrics: counts and durations only, never an identifier or a pseudonym.

Every label value comes from a closed set (an outcome, a route template, a limit's name,
an HTTP method or status), so nothing a client sends can become a label. Under
``hitmachine serve --workers N`` the workers share counts through prometheus_client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by ``hitmachine.http.server``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hitmachine.services import audit
from hitmachine.store import audit_tree

if TYPE_CHECKING:
    from hitmachine.services.context import Context

QUERIES = Counter("hitmachine_queries", "Household queries answered, by outcome", ["outcome"])
QUERY_MEMBERS = Counter("hitmachine_query_members", "Members asked about in answered queries")
HITS = Counter("hitmachine_hits", "Members known at one or more agencies in answers")
PUBLISHES = Counter("hitmachine_publishes", "Snapshot commits and deltas accepted", ["kind"])
RATE_LIMIT_DENIALS = Counter("hitmachine_rate_limit_denials",
                             "Requests refused by a rate limit or the daily budget", ["limit"])
ALERTS = Counter("hitmachine_alerts", "alert.* audit records written", ["event"])
REQUESTS = Counter("hitmachine_http_requests", "HTTP requests", ["method", "route", "status"])
DURATION = Histogram("hitmachine_http_request_duration_seconds", "HTTP request duration",
                     ["route"], buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))


class AuditLag(Collector):
    """The audit Merkle tree's backlog, read from the database at scrape time: records
    committed but not yet integrated (sequenced) into the tree, and the age of the oldest."""

    def __init__(self, ctx: "Context") -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.ctx.db.read() as conn:
            pending = audit_tree.pending_count(conn)
        age = audit.pending_seconds(self.ctx)
        yield GaugeMetricFamily("hitmachine_audit_pending_records",
                                "Audit records not yet integrated into the Merkle tree",
                                value=pending)
        yield GaugeMetricFamily("hitmachine_audit_lag_seconds",
                                "Age of the oldest audit record not yet in the Merkle tree",
                                value=age)


def render(ctx: "Context") -> tuple[bytes, str]:
    """The exposition text: this process's (or all workers') metrics plus the audit lag."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for collector in _own(REGISTRY):
            registry.register(collector)
    registry.register(AuditLag(ctx))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def _own(registry: CollectorRegistry) -> Iterable[Collector]:
    mine = {QUERIES, QUERY_MEMBERS, HITS, PUBLISHES, RATE_LIMIT_DENIALS, ALERTS, REQUESTS,
            DURATION}
    # prometheus_client has no public way to list the collectors of a registry
    return [c for c in list(registry._collector_to_names) if c in mine]


__all__ = ["ALERTS", "DURATION", "HITS", "PUBLISHES", "QUERIES", "QUERY_MEMBERS",
           "RATE_LIMIT_DENIALS", "REQUESTS", "AuditLag", "render"]
