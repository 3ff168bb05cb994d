"""Domain errors: what a request asked for cannot be done, and why, in words a person can read.
The API maps each kind to its HTTP status in one place (api/errors.py); the CLI prints the message."""

from __future__ import annotations


class DomainError(Exception):
    """A change refused by the rules of the service (not a fault of the service)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The thing named does not exist (or the caller may not know it does)."""


class Forbidden(DomainError):
    """The caller may see it but not do this to it."""


class Conflict(DomainError):
    """It exists, but its state does not allow the change."""


class Invalid(DomainError):
    """The request itself is malformed (a bad name, role or value)."""
