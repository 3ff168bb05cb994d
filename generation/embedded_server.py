"""The command line of the embedded generator: llama-cpp-python's OpenAI-compatible server."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from generation.models import QWEN_05B, PackagedGGUF, resolve

MODEL_ALIAS = "askdocs-default"


def server_command(
    gguf: Path | None,
    url: str,
    model_cache: Path,
    threads: int | None = None,
    n_ctx: int = 4096,
    packaged: PackagedGGUF = QWEN_05B,
) -> list[str]:
    """``python -m generation.llama_server`` (llama_cpp.server with the AMX fix) for the GGUF
    (default: the ``packaged`` model, verified: the generation profile's)."""
    model = gguf if gguf is not None else resolve(packaged, model_cache)
    parsed = urlparse(url)
    return [
        sys.executable,
        "-m",
        "generation.llama_server",
        "--model",
        str(model),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        parsed.hostname or "127.0.0.1",
        "--port",
        str(parsed.port or 8010),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads or max(1, (os.cpu_count() or 2) // 2)),
        # Reading the prompt (most of the time to the first token) uses every core, as
        # llama-cpp-python does by default; said here, since ``threads`` does not set it: on 2
        # cores, 2 threads read the packaged model's prompts at 160 tokens/s against 105 on one.
        "--n_threads_batch",
        str(os.cpu_count() or 1),
        # llama-cpp-python's default stops the answer being streamed when any other request
        # arrives (a token count for the next question, another user's question): measured here,
        # answers cut after two tokens. Requests wait their turn instead.
        "--interrupt_requests",
        "False",
    ]
