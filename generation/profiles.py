"""Generation profiles: the rules and the steering that go with one generator.

A small packaged model needs steering that a served 7B model does not: an example sentence it
sometimes repeats as a whole answer (so it is filtered out), refusals it paraphrases (so they are
recognised by pattern), refusals of passages that do answer (so it is asked to look again), a
prompt cut to the sentences that bear on the question. Each of these lives in the profile of the
model it was measured on; a model served by vLLM (``ASKDOCS_GENERATOR_URL`` with
``ASKDOCS_START_GENERATOR=false``, or ``ASKDOCS_GENERATOR_MODEL``) gets the ``plain`` profile: the rules, the sources, the question,
and a refusal is the sentence the rules give. ``ASKDOCS_GENERATOR_PROFILE`` names one outright.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from generation.models import QWEN_05B, QWEN_CODER_15B, SMOLLM2_135M, PackagedGGUF
from generation.prompt import INSTRUCTIONS, PLAIN_INSTRUCTIONS, Layout

if TYPE_CHECKING:
    from core.settings import Settings


@dataclass(frozen=True)
class GenerationProfile:
    """How askdocs prompts one generator and reads its answers."""

    name: str
    description: str
    # the GGUF `askdocs up` serves for this profile (None: the model is served elsewhere)
    model: PackagedGGUF | None
    rules: str = PLAIN_INSTRUCTIONS
    # the rules before the sources (the same words for every question: a prefix the server's
    # cache keeps), else after them
    rules_first: bool = True
    # the question before the sources as well as after them
    question_first: bool = False
    # the best passage last, nearest the question (still numbered [1]; a variant the prompt
    # bench compares)
    best_last: bool = False
    # drop the rules' example sentence when the model repeats it as an answer
    example_filter: bool = False
    # recognise paraphrased refusals ("The sources do not provide ..."), not only the rules' own
    refusal_patterns: bool = False
    # after a refusal over passages that passed the gate, ask once more to quote what answers
    second_look: bool = False
    # each passage cut to the sentences and table rows sharing a word with the question
    focus_passages: bool = False
    # ratios, margins, shares, sums, changes and row comparisons: the model names the operands,
    # askdocs checks and computes (``generation.figures``)
    computed_figures: bool = True
    # a table is shown with the columns of the period the question asks about, when it names one
    # (``generation.columns``)
    period_columns: bool = True
    # every figure the answer writes is copied from the passages given: the sampler follows a
    # grammar of their figures (``generation.grammar``; llama.cpp's server takes it)
    copy_figures: bool = False
    # shrink the passage budget so the prompt is read within this many seconds at the prompt
    # speed measured on the answers so far (0: off), never below ``min_context_tokens``
    ttft_target_seconds: float = 0.0
    min_context_tokens: int = 384

    @property
    def layout(self) -> Layout:
        """Where the rules, the sources and the question go in the prompt."""
        return Layout(self.rules, self.rules_first, self.best_last, self.question_first)


# Steering measured on the packaged Qwen2.5-Coder 0.5B (bench/answer_prompts.py; docs/answers.md):
# rules first, then the sources, then the question refused 5 of 22 sec-10q questions whose gold
# figure it was given (13 of 22 with the question first as well); with the second look, none of
# 10 plain questions over short notes; it repeats the example sentence and paraphrases refusals.
_SMALL_MODEL = dict(
    rules=INSTRUCTIONS,
    example_filter=True,
    refusal_patterns=True,
    second_look=True,
    copy_figures=True,
)

QWEN_CODER_05B_PROFILE = GenerationProfile(
    name="qwen2.5-coder-0.5b",
    description="Qwen2.5-Coder 0.5B Instruct, Q4_K_M (491 MB), on the embedded llama.cpp server",
    model=QWEN_05B,
    **_SMALL_MODEL,  # type: ignore[arg-type]
)
QWEN_CODER_15B_PROFILE = GenerationProfile(
    name="qwen2.5-coder-1.5b",
    description="Qwen2.5-Coder 1.5B Instruct, Q4 (1.1 GB), on the embedded llama.cpp server",
    model=QWEN_CODER_15B,
    **_SMALL_MODEL,  # type: ignore[arg-type]
)
SMOLLM2_PROFILE = GenerationProfile(
    name="smollm2-135m",
    description="SmolLM2 135M Instruct, Q4_1 (98 MB): the test suite's model, fast and weak",
    model=SMOLLM2_135M,
    **_SMALL_MODEL,  # type: ignore[arg-type]
)
PLAIN = GenerationProfile(
    name="plain",
    description="A capable model served elsewhere (vLLM, a 7B or larger): plain rules, no steering",
    model=None,
)

PROFILES = {
    p.name: p
    for p in (
        QWEN_CODER_05B_PROFILE,
        QWEN_CODER_15B_PROFILE,
        SMOLLM2_PROFILE,
        PLAIN,
    )
}
# The embedded server's model when nothing else is said: on sec-10q's table lookups it states the
# right figure twice as often as the 0.5B model and refuses no more, for 1.7 times the wait to
# the first token (the measurements in docs/answers.md).
DEFAULT = QWEN_CODER_15B_PROFILE


class UnknownProfile(ValueError):
    """``ASKDOCS_GENERATOR_PROFILE`` names no profile."""


def choose(name: str | None, served_elsewhere: bool) -> GenerationProfile:
    """The profile named, else ``plain`` for a model served elsewhere, else the default.

    :param served_elsewhere: the generator is not the embedded server's packaged model (a URL
        or a model name was configured, or a GGUF of one's own)."""
    if name:
        try:
            return PROFILES[name]
        except KeyError:
            raise UnknownProfile(
                f"no generation profile {name!r}; choose one of {', '.join(PROFILES)}"
            ) from None
    return PLAIN if served_elsewhere else DEFAULT


def served_elsewhere(settings: Settings) -> bool:
    """The generator is not the embedded server's packaged model: a model name or a GGUF of
    one's own was configured, or askdocs starts no generator and one at another URL than the
    default answers (vLLM, as docs/answers.md shows it)."""
    default_url = type(settings).model_fields["generator_url"].default
    return (
        settings.generator_model is not None
        or settings.generator_gguf is not None
        or (not settings.start_generator and settings.generator_url != default_url)
    )


def profile_for(settings: Settings) -> GenerationProfile:
    """The profile of the configured generator (``ASKDOCS_GENERATOR_PROFILE``, or by how the
    generator is served)."""
    return choose(settings.generator_profile, served_elsewhere(settings))
