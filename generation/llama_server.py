"""llama-cpp-python's OpenAI-compatible server (``python -m generation.llama_server ARGS``, the
same arguments as ``python -m llama_cpp.server``), started with one fix: on a build with AMX
kernels, the weights stay in plain CPU buffers. llama.cpp's AMX matrix multiply segfaults at the
first completion on Sapphire Rapids-class CPUs (ggml-org/llama.cpp#20824; seen here with the
packaged Qwen Q4_K_M on a machine whose native build enabled AMX_INT8)."""

from __future__ import annotations


def avoid_amx() -> bool:
    """Turn off llama.cpp's extra buffer types (AMX, weight repacking) when the build has AMX;
    True when it did."""
    import llama_cpp.llama_cpp as lib

    if b"AMX_INT8 = 1" not in lib.llama_print_system_info():
        return False
    default = lib.llama_model_default_params

    def params():  # noqa: ANN202 - a ctypes struct, as the wrapped function returns
        p = default()
        p.use_extra_bufts = False
        return p

    lib.llama_model_default_params = params  # llama_cpp.Llama reads it at each model load
    return True


def main() -> None:
    if avoid_amx():
        print("askdocs: AMX kernels off (llama.cpp#20824)", flush=True)
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
