"""What can go wrong in an adapter run, each with its own exit code (for cron and scripts).

    AdapterError                 1  anything else (a bug: the message says what)
    ├── AdapterUsageError        2  bad options, config or mapping; unreadable source or keyring
    ├── RejectsLimitExceeded     3  too many unusable rows (or an empty set); nothing was published
    ├── AdapterAuthError         4  the server refused the token (401/403)
    ├── AdapterServerError       5  network or server failure after all retries (rerun resumes)
    ├── AdapterRejected          6  the server refused a request (4xx): a bug or a misconfiguration
    ├── AdapterBusy              7  another run for this agency holds the state directory
    └── AdapterTimeout           8  the run passed its deadline, or a worker stopped answering

An interrupted run (Ctrl+C, SIGTERM) exits with 130 and resumes like a failed one.
"""

from __future__ import annotations


class AdapterError(Exception):
    exit_code = 1


class AdapterUsageError(AdapterError):
    exit_code = 2


class RejectsLimitExceeded(AdapterError):
    exit_code = 3


class AdapterAuthError(AdapterError):
    exit_code = 4


class AdapterServerError(AdapterError):
    exit_code = 5


class AdapterRejected(AdapterError):
    exit_code = 6

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"server refused the request ({status}): {message}")
        self.status = status
        self.message = message


class AdapterBusy(AdapterError):
    exit_code = 7


class AdapterTimeout(AdapterError):
    exit_code = 8


EXIT_INTERRUPTED = 130

__all__ = ["EXIT_INTERRUPTED", "AdapterAuthError", "AdapterBusy", "AdapterError",
           "AdapterRejected", "AdapterServerError", "AdapterTimeout", "AdapterUsageError",
           "RejectsLimitExceeded"]
