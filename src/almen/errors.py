"""User-facing errors. Every ``UserError`` becomes one line and exit code 2 in the CLI.

Messages name what is wrong and where (file, line, column) and never contain patient
values: a row's content is never put into a message.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AlmenError",
    "ConflictError",
    "InputError",
    "NotFoundError",
    "ParameterError",
    "StorageError",
    "UserError",
]


class AlmenError(Exception):
    """Base of every error almen raises on purpose."""


class UserError(AlmenError):
    """Something the user can fix: bad input, a bad parameter, a missing table."""

    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: str | int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line
        self.column = column

    @property
    def location(self) -> str:
        parts = [str(p) for p in (self.source, self.line, self.column) if p is not None]
        return ":".join(parts)

    def __str__(self) -> str:
        where = self.location
        return f"{where}: {self.kind}: {self.message}" if where else f"{self.kind}: {self.message}"


class InputError(UserError):
    """An input file cannot be read as it should be."""

    kind = "input error"


class ParameterError(UserError):
    """A command-line or API parameter is out of range or unknown."""

    kind = "parameter error"


class StorageError(UserError):
    """The data directory or backend cannot be used."""

    kind = "storage error"


class NotFoundError(UserError):
    """A table, clinic, patient or schedule that was asked for does not exist."""

    kind = "not found"


class AccessDeniedError(UserError):
    """The user's role does not allow this."""

    kind = "access denied"


class ConflictError(UserError):
    """Somebody else changed the record first (e.g. a request already assigned)."""

    kind = "conflict"
