import pytest

from api.openai_compat import split_messages
from api.schemas import ChatMessage, ContentPart
from generation.condense import PastTurn, clean, condense_messages

pytestmark = pytest.mark.unit


def test_split_messages_pairs_turns_and_skips_system():
    msgs = [
        ChatMessage(role="system", content="be brief"),
        ChatMessage(role="user", content="What is X?"),
        ChatMessage(role="assistant", content="X is one [1]."),
        ChatMessage(role="user", content=[ContentPart(type="text", text="And Y?")]),
    ]
    question, history = split_messages(msgs)
    assert question == "And Y?"
    assert history == [PastTurn("What is X?", "X is one [1].")]


def test_split_messages_takes_the_last_user_question():
    q, history = split_messages(
        [
            ChatMessage(role="user", content="What is X?"),
            ChatMessage(role="assistant", content="X is one."),
            ChatMessage(role="user", content="And Y?"),
            ChatMessage(role="assistant", content="Y is two."),
        ]
    )
    assert q == "And Y?" and history == [PastTurn("What is X?", "X is one.")]
    assert split_messages([ChatMessage(role="system", content="hi")]) == ("", [])
    assert split_messages([ChatMessage(role="user", content="  ")]) == ("", [])


def test_condense_prompt_drops_markers_and_keeps_the_follow_up():
    (msg,) = condense_messages([PastTurn("Capital of Freedonia?", "Fredville [1].")], "Rivers?")
    assert "Previous answer: Fredville." in msg["content"] and "[1]" not in msg["content"]
    assert "Follow-up question: Rivers?" in msg["content"]


def test_clean_takes_the_first_line_and_falls_back_when_unusable():
    h = [PastTurn("What is the capital of Freedonia?", "Fredville.")]
    q = "Which rivers does it lie on?"
    both = "What is the capital of Freedonia? Which rivers does it lie on?"
    assert clean('Rewritten: "Which rivers does Fredville lie on?"\nMore', q, h) == (
        "Which rivers does Fredville lie on?"
    )
    assert clean("Which rivers lies Fredville on?", q, h) == "Which rivers lies Fredville on?"
    assert clean("  \n", q, h) == both
    assert clean("x" * 1000, q, h) == both
    # what the 0.5B model did: a word from nowhere, or the pronoun left as it was
    assert clean("What is the capital of France?", q, h) == both
    assert clean(q, q, h) == both
    # a new topic without words that refer back stays as asked
    assert clean(
        "What is the population of Sylvania?", "What is the population of Sylvania?", h
    ) == ("What is the population of Sylvania?")
