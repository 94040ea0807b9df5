"""The one exception hierarchy of orchestrate.

    OrchestrateError            anything orchestrate raises on purpose; `str()` is one clear line
    ├── TaskFileError           a task file is missing, unreadable or invalid (CLI exit status 2)
    ├── UsageError              a command-line option is invalid (CLI exit status 2)
    ├── BackendError            a backend could not serve a request (`retryable`, `status`)
    │   └── BackendUnavailable  the server cannot be reached or is not ready (retryable)
    ├── PlanError               a plan is invalid: unknown references, duplicate ids, a cycle, an unknown tool
    ├── RunError                a run could not produce a result (e.g. every thread failed)
    └── BudgetExceeded          a budget (tokens, wall time, steps) stopped the run; the result is partial

The CLI turns each of these into a single line on stderr and a non-zero exit status; it never
shows a traceback for them.
"""

from __future__ import annotations


class OrchestrateError(Exception):
    """Base class of every error orchestrate raises on purpose."""


class TaskFileError(OrchestrateError):
    """A task file is missing, unreadable, not YAML, or does not match the task schema."""

    def __init__(self, path: str, message: str, field: str | None = None) -> None:
        self.path = path
        self.field = field
        self.message = message
        where = f"{path}: {field}: " if field else f"{path}: "
        super().__init__(where + message)


class UsageError(OrchestrateError):
    """A command-line option has a value orchestrate cannot use."""


class BackendError(OrchestrateError):
    """A backend failed to serve a request; `retryable` says whether sending it again may succeed."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class BackendUnavailable(BackendError):
    """The backend's server cannot be reached or is not ready."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = True) -> None:
        super().__init__(message, status=status, retryable=retryable)


class PlanError(OrchestrateError):
    """A plan (from a task file, a planner or a refiner) is invalid; the message names the step and the problem."""


class RunError(OrchestrateError):
    """A run could not produce a result."""


class BudgetExceeded(OrchestrateError):
    """A budget stopped the run; `str()` names the budget that was reached."""
