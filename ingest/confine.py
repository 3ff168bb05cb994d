"""The parse child's confinement: the generic code lives in ``core.confine`` (the API's page
renderer is confined by it too); ingestion imports it from here."""

from core.confine import NOBODY, Confinement, apply, cpu_used, parse_identity

__all__ = ["NOBODY", "Confinement", "apply", "cpu_used", "parse_identity"]
