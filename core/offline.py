"""Environment that keeps third-party libraries from reaching the network. Call before importing them."""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",  # unstructured phones home at import otherwise
    "SCARF_NO_ANALYTICS": "true",
    "ANONYMIZED_TELEMETRY": "False",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
}


def go_offline() -> None:
    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)
