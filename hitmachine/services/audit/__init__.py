"""The tamper-evident audit log's use cases, one module each; every one writes its own
audit record, so no shell (CLI, API, web) builds one.

How it fits together (``docs/audit-log.md`` has the full story):

* Requests commit their audit record first, with ``seq`` NULL (``store.audit_log``).
* ``integrator``: the ``Integrator`` (a thread per server process; ``store.audit_tree.lock``
  lets one work at a time) sequences pending records in batches about every half second
  and signs a checkpoint when the tree grew and the last one is older than
  ``settings.audit_checkpoint_seconds``.
* ``verify`` recomputes every leaf from the record contents in one streaming pass and
  compares the roots it passes through with every stored and every outside checkpoint.
* ``proofs``, ``export``, ``reads``, ``subject`` (AVG art. 15), ``retention`` (pruning)
  and ``statistics``: each records the action as it serves it.

The names below are the package's interface (``from hitmachine.services import audit``).
"""

from __future__ import annotations

from hitmachine.services.audit.export import (
    EXPORT_COLUMNS,
    ExportFormat,
    export_records,
    export_row,
)
from hitmachine.services.audit.integrator import (
    PENDING_LIMIT_SECONDS,
    CheckpointWanted,
    Integrator,
    checkpoint_for,
    has_pending,
    integrate,
    latest_checkpoint,
    pending_seconds,
    sign_checkpoint_now,
    signer,
    verifier_key,
)
from hitmachine.services.audit.proofs import (
    ConsistencyProof,
    InclusionProof,
    prove_consistency,
    prove_inclusion,
)
from hitmachine.services.audit.reads import record_read, search_records
from hitmachine.services.audit.retention import PruneResult, prune
from hitmachine.services.audit.statistics import record_statistics
from hitmachine.services.audit.subject import (
    record_subject_refused,
    subject_pseudonyms,
    subject_records,
)
from hitmachine.services.audit.verify import Progress, VerifyResult, verify, verify_for

__all__ = ["PENDING_LIMIT_SECONDS", "CheckpointWanted", "ConsistencyProof", "EXPORT_COLUMNS",
           "ExportFormat", "InclusionProof", "Integrator", "Progress", "PruneResult",
           "VerifyResult", "checkpoint_for", "export_records", "export_row", "has_pending",
           "integrate", "latest_checkpoint", "pending_seconds", "prove_consistency",
           "prove_inclusion", "prune", "record_read", "record_statistics",
           "record_subject_refused", "search_records", "sign_checkpoint_now", "signer",
           "subject_pseudonyms", "subject_records", "verifier_key", "verify", "verify_for"]
