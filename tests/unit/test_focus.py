"""Passages cut to what bears on the question (generation.focus)."""

from __future__ import annotations

import pytest

from generation.client import GeneratorClient
from generation.focus import focus

pytestmark = pytest.mark.unit

PROSE = (
    "Revenue grew in the quarter. The board met twice. Maria Ortiz was appointed chief executive "
    "in May. She led operations before. The weather was fine. Offices moved to Lyon."
)
TABLE = (
    "Net sales by segment\n| Segment | Q3 2023 | Q3 2022 |\n|---|---|---|\n"
    "| Cloud | 7,442 | 6,100 |\n| Devices | 1,200 | 1,500 |\n| Services | 900 | 800 |\n"
    "Totals include eliminations."
)


def test_prose_keeps_the_matching_sentence_and_its_neighbours() -> None:
    got = focus(PROSE, "Who was appointed chief executive?")
    assert got == (
        "… The board met twice. Maria Ortiz was appointed chief executive in May. "
        "She led operations before. …"
    )


def test_a_table_keeps_its_header_with_the_matching_row() -> None:
    got = focus(TABLE, "What were Cloud sales?", neighbours=0)
    assert got.splitlines() == [
        "Net sales by segment",
        "| Segment | Q3 2023 | Q3 2022 |",
        "|---|---|---|",
        "| Cloud | 7,442 | 6,100 |",
        "…",
    ]
    assert "Devices" not in got and "Services" not in got


def test_nothing_matching_keeps_the_passage_whole() -> None:
    assert focus(PROSE, "zebra xylophone") == PROSE
    assert focus("One sentence only.", "sentence") == "One sentence only."


def test_the_client_learns_the_servers_prompt_speed() -> None:
    client = GeneratorClient("http://127.0.0.1:9/v1")
    assert client.prompt_rate is None
    client.observe_prompt(1000, 10.0)
    assert client.prompt_rate == 100.0
    client.observe_prompt(1000, 5.0)
    assert client.prompt_rate == pytest.approx(130.0)
    client.observe_prompt(0, 1.0)
    assert client.prompt_rate == pytest.approx(130.0)
