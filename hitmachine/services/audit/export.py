"""Exporting records with everything needed to recompute their leaf hashes
(``docs/audit-log.md``), recorded as ``audit.export``."""

from __future__ import annotations

import csv
import json
from typing import IO, Any, Literal

from sqlalchemy import RowMapping

from hitmachine.core.auditlog.encoding import LEAF_FIELDS
from hitmachine.core.csv_cells import safe_row
from hitmachine.core.errors import InvalidInput
from hitmachine.core.principal import Principal
from hitmachine.services.audit._common import filter_detail, record_action
from hitmachine.services.context import Context
from hitmachine.store import audit_log, audit_tree
from hitmachine.store.audit_log import AuditFilter

EXPORT_PAGE = 5_000
ExportFormat = Literal["jsonl", "csv"]
EXPORT_COLUMNS = ("seq", "id", "leaf_hash", "pruned", *LEAF_FIELDS)


def export_records(ctx: Context, principal: Principal, flt: AuditFilter, fmt: ExportFormat,
                   out: IO[str], request_id: str, *, via: str = "web") -> int:
    """Write the selected records with everything needed to recompute their leaf hashes
    (``docs/audit-log.md``), then record the export. Returns the number written.

    The caller sends ``out`` on only after this returns: the record is committed first."""
    if fmt not in ("jsonl", "csv"):
        raise InvalidInput("format", "must be jsonl or csv")
    writer = csv.writer(out, lineterminator="\r\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(safe_row((*EXPORT_COLUMNS, "null_fields")))
    count, after = 0, 0
    with audit_tree.snapshot(ctx.db) as conn:
        while True:
            rows = audit_log.search(conn, flt, after_id=after, limit=EXPORT_PAGE)
            for row in rows:
                item = export_row(row)
                if writer is not None:
                    # CSV has no NULL: an empty cell is NULL exactly when null_fields names it.
                    # safe_row: free text must not run as a formula in a spreadsheet.
                    writer.writerow(safe_row([*(item[c] for c in EXPORT_COLUMNS),
                                              " ".join(f for f in LEAF_FIELDS
                                                       if item[f] is None)]))
                else:
                    # ensure_ascii: a newline or separator inside a field stays escaped, so
                    # no free text can split a record or forge another line.
                    out.write(json.dumps(item, ensure_ascii=True, separators=(",", ":")) + "\n")
            count += len(rows)
            if len(rows) < EXPORT_PAGE:
                break
            after = int(rows[-1]["id"])
    out.flush()
    record_action(ctx, principal, "audit.export", request_id,
           {"filter": filter_detail(flt), "format": fmt, "records": count, "via": via})
    return count


def export_row(row: RowMapping) -> dict[str, Any]:
    item: dict[str, Any] = {"seq": row["seq"], "id": row["id"],
                            "leaf_hash": bytes(row["leaf_hash"]).hex()
                            if row["leaf_hash"] is not None else None,
                            "pruned": bool(row["pruned"])}
    item.update({f: row[f] for f in LEAF_FIELDS})
    return item


__all__ = ["EXPORT_COLUMNS", "ExportFormat", "export_records", "export_row"]
