"""The embedded generator's launcher turns llama.cpp's AMX kernels off where the build has them
(they segfault at the first completion on such CPUs: the whole answer path failed here before)."""

import os

import pytest

from generation.embedded_server import server_command
from generation.llama_server import avoid_amx

pytestmark = pytest.mark.unit


def test_extra_buffer_types_are_off_exactly_when_the_build_has_amx(monkeypatch) -> None:
    import llama_cpp.llama_cpp as lib

    # restored after the test: avoid_amx replaces this function in the module
    monkeypatch.setattr(lib, "llama_model_default_params", lib.llama_model_default_params)
    has_amx = b"AMX_INT8 = 1" in lib.llama_print_system_info()
    assert avoid_amx() is has_amx
    assert bool(lib.llama_model_default_params().use_extra_bufts) is not has_amx


def test_the_server_is_started_through_the_launcher(tmp_path) -> None:
    gguf = tmp_path / "m.gguf"
    argv = server_command(gguf, "http://127.0.0.1:8123/v1", tmp_path)
    assert argv[1:3] == ["-m", "generation.llama_server"]
    assert argv[argv.index("--port") + 1] == "8123"
    assert argv[argv.index("--model") + 1] == str(gguf)


def test_the_prompt_is_read_on_every_core(tmp_path) -> None:
    argv = server_command(tmp_path / "m.gguf", "http://127.0.0.1:8123/v1", tmp_path, threads=1)
    assert argv[argv.index("--n_threads") + 1] == "1"
    assert argv[argv.index("--n_threads_batch") + 1] == str(os.cpu_count() or 1)
