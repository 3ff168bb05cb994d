"""llama-cpp-python's OpenAI-compatible server (``python -m generation.llama_server ARGS``, the
same arguments as ``python -m llama_cpp.server``), started with one fix: on a build with AMX
kernels, the weights stay in plain CPU buffers. llama.cpp's AMX matrix multiply segfaults at the
first completion on Sapphire Rapids-class CPUs (ggml-org/llama.cpp#20824; seen here with the
packaged Qwen Q4_K_M on a machine whose native build enabled AMX_INT8). And a second: a request
with a grammar (``generation.grammar``) has its grammar checked against the model's
``GRAMMAR_TOP_K`` likeliest tokens, not the whole vocabulary."""

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


# Tokens a grammar is checked against at each step. llama-cpp-python checks every token of the
# vocabulary (151,936 for Qwen2.5): with a figures grammar, 87 ms a token on 2 cores against 26
# ms without one, and 31 ms checked against these (``bench/grammar_speed.py``, docs/answers.md),
# with the same text written. Greedy decoding picks among the likeliest tokens anyway. A grammar sent here must allow a likely token in every
# state (``generation.grammar``'s do: any non-digit outside a figure, digits inside one):
# llama.cpp aborts when none of the tokens checked is allowed.
GRAMMAR_TOP_K = 1024


def grammar_after_top_k(k: int = GRAMMAR_TOP_K) -> None:
    """Put a top-k step before the grammar in llama-cpp-python's sampler chain."""
    from llama_cpp import _internals

    add_grammar = _internals.LlamaSampler.add_grammar
    if getattr(add_grammar, "askdocs_top_k", None) == k:
        return

    def with_top_k(self, model, grammar):  # noqa: ANN001, ANN202 - the wrapped method's own
        self.add_top_k(k)
        add_grammar(self, model, grammar)

    with_top_k.askdocs_top_k = k  # type: ignore[attr-defined]
    _internals.LlamaSampler.add_grammar = with_top_k


def main() -> None:
    grammar_after_top_k()
    if avoid_amx():
        print("askdocs: AMX kernels off (llama.cpp#20824)", flush=True)
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
