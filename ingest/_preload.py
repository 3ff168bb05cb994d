"""Imported by the parse fork server (``ingest.sandbox``) only: load the parsers once there, so each
parse child starts with them in memory instead of importing them again."""

from __future__ import annotations

import importlib
import logging

from ingest import parsing

PARTITIONERS = ("pdf", "docx", "pptx", "xlsx", "html", "md", "email", "text", "csv", "image")

parsing._unstructured()
for _name in PARTITIONERS:
    try:
        importlib.import_module(f"unstructured.partition.{_name}")
    except Exception:  # noqa: BLE001 - a missing extra only costs that format its warm start
        logging.getLogger(__name__).debug("could not preload %s", _name, exc_info=True)

# One small parse loads what unstructured loads lazily (the spaCy model: 0.6 s a child otherwise).
parsing.warm()
