"""The whole exception tree of manifest-lang.

User mistakes in a model are *diagnostics*, and a command that is refused is a failed
``CommandResult``: neither is an exception. Exceptions are for programming errors at the API
boundary and for the boundaries the specification names. Every class has a stable ``code``
that tests, the CLI and the HTTP layer key on (never on the message text).
"""

from __future__ import annotations

from typing import Any


class ManifestError(Exception):
    """Base of every error raised by manifest-lang."""

    code = "MANIFEST_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


class CompileError(ManifestError):
    """Raised only by helpers that turn a failed compilation into an exception."""

    code = "COMPILE_ERROR"

    def __init__(self, message: str, diagnostics: list[Any] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = list(diagnostics or [])


class IRError(ManifestError):
    """An IR document that is not valid IR v1 (schema failure, unknown version, bad shape)."""

    code = "INVALID_IR"


class UnknownEntityError(ManifestError):
    code = "UNKNOWN_ENTITY"


class UnknownCommandError(ManifestError):
    code = "UNKNOWN_COMMAND"


class InvalidInputError(ManifestError):
    """Input that cannot be handled at all (not JSON-able, wrong container type)."""

    code = "INVALID_INPUT"


class EvaluationBudgetExceededError(ManifestError):
    """An expression evaluation ran past its depth or step limit."""

    code = "EVALUATION_BUDGET_EXCEEDED"

    def __init__(self, limit_type: str, limit: int) -> None:
        super().__init__(f"Evaluation budget exceeded: {limit_type} limit {limit} reached")
        self.limit_type = limit_type
        self.limit = limit


class ManifestEffectBoundaryError(ManifestError):
    """A persist / publish / effect action ran in deterministic mode."""

    code = "EFFECT_BOUNDARY"

    def __init__(self, action_kind: str) -> None:
        super().__init__(
            f"Action '{action_kind}' is not allowed in deterministicMode. Adapter actions "
            "(persist/publish/effect) must be handled externally. See docs/spec/adapters.md."
        )
        self.action_kind = action_kind


class ManifestReactionDepthError(ManifestError):
    code = "REACTION_DEPTH"


class ManifestReferentialRestrictError(ManifestError):
    """A delete hit ``onDelete: restrict`` with dependent rows."""

    code = "REFERENTIAL_RESTRICT"


class ManifestReferentialSetNullError(ManifestError):
    """``onDelete: setNull`` on a required foreign-key property."""

    code = "REFERENTIAL_SET_NULL"


class StoreError(ManifestError):
    """A storage backend failed (connection lost, constraint violated, ...)."""

    code = "STORE_ERROR"


class StoreConflictError(StoreError):
    """A unit of work lost a race: a row it read changed before it committed."""

    code = "STORE_CONFLICT"


class InstanceExistsError(StoreConflictError):
    """A create named an id that is already taken (by any tenant): creates never replace a row."""

    code = "ALREADY_EXISTS"


class StoreUnavailableError(StoreError):
    """The database or server could not be reached; the unit of work was not applied."""

    code = "STORE_UNAVAILABLE"


class IdempotencyInProgressError(ManifestError):
    """Another request holds the same idempotency key and has not finished."""

    code = "IDEMPOTENCY_IN_PROGRESS"


class LimitExceededError(InvalidInputError):
    """An id, a field value or a nesting depth is past the documented limits (docs/persistence.md)."""

    code = "LIMIT_EXCEEDED"


class ExpressionTypeError(ManifestError):
    """An expression did something JavaScript throws a TypeError for (e.g. ``replace`` with a
    non-string search value). Inside a command it becomes a failed result."""

    code = "EXPRESSION_TYPE_ERROR"


class MissingExtraError(ManifestError, ImportError):
    """An optional dependency is not installed; the message names the extra that provides it.

    Also an ``ImportError``, so code that guards an optional import keeps working.
    """

    code = "MISSING_EXTRA"

    def __init__(self, message: str, *, extra: str, module: str) -> None:
        super().__init__(message, extra=extra, module=module)
        self.extra = extra
        self.module = module
