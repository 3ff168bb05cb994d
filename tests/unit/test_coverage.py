"""The coverage check: what a question names, and which of those the passages found never mention."""

from __future__ import annotations

import pytest

from generation.coverage import content_words, missing_terms, named_terms

# Passages as a 10-Q's chunks read: about the right company, silent on what the question names.
APPLE_SALES = (
    "Apple Inc.\nCONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS (Unaudited)\n"
    "Three Months Ended July 1, 2023 June 25, 2022\nNet sales:\nProducts $ 60,584 $ 63,355\n"
    "Services 21,213 19,604\nTotal net sales 81,797 82,959"
)
APPLE_DEBT = (
    "Term Debt\nAs of July 1, 2023, the Company had outstanding fixed-rate notes with varying "
    "maturities for an aggregate principal amount of $105.1 billion. Future principal payments "
    "for the Company's Notes are $9.9 billion due in 2024 and $95.2 billion thereafter."
)
APPLE_LEADERSHIP = (
    "The Company depends on the performance of its chief executive officer and other highly "
    "skilled employees, and competition for key personnel is intense."
)
NVIDIA_DATA_CENTER = (
    "Data Center revenue for the third quarter of fiscal year 2024 was a record $14.51 billion, "
    "up 279% from a year ago; in the third quarter of fiscal year 2023 it was $3.83 billion."
)
NVIDIA_PEOPLE = (
    "NVIDIA Corporation\nAs of the end of the quarter we had approximately 29,600 employees in "
    "36 countries, with offices in the United States, Israel, India and Taiwan."
)
NVIDIA_IP = (
    "Our success depends on our intellectual property. We rely on patents, copyrights, "
    "trademarks and trade secrets; we filed patent applications in the United States in 2022."
)
MICROSOFT_REVENUE = (
    "Microsoft Corporation\nRevenue increased $5.6 billion or 11% driven by growth in Microsoft "
    "Cloud, with Azure and other cloud services revenue up 29% in fiscal year 2023."
)
INTEL_DIVIDEND = (
    "Intel Corporation\nDuring the first nine months of 2023 we declared dividends of $0.37 per "
    "common share; our Board of Directors reduced the quarterly dividend in February 2023."
)
INTEL_MARKETING = (
    "Intel Corporation\nMarketing, general, and administrative expenses decreased in 2023 as we "
    "reduced advertising and sponsorship spending across our business units."
)
AMAZON_FACILITIES = (
    "Amazon.com, Inc.\nWe operate corporate offices, fulfillment, data centers and physical "
    "stores; our corporate headquarters are in Seattle, Washington and Arlington, Virginia."
)
AMAZON_AWS = (
    "AWS segment sales increased 12% compared to the prior year period, primarily due to "
    "increased customer usage. Amazon.com, Inc. North America segment sales increased 11%."
)

UNANSWERABLE = [
    # (question, passages found, a term it names that none of them mentions)
    (
        "How many employees does NVIDIA have in its Tokyo office?",
        [NVIDIA_PEOPLE, NVIDIA_DATA_CENTER],
        "Tokyo",
    ),
    ("What was Microsoft's revenue in fiscal year 1995?", [MICROSOFT_REVENUE], "1995"),
    ("What dividend will Intel pay per share in 2030?", [INTEL_DIVIDEND], "2030"),
    ("Which football club does Intel sponsor in Brazil?", [INTEL_MARKETING], "Brazil"),
    (
        "What is the interest rate on Apple's 2045 bonds issued in 2024?",
        [APPLE_DEBT, APPLE_SALES],
        "2045",
    ),
    ("How many patents did NVIDIA file in Germany in 2019?", [NVIDIA_IP], "Germany"),
]


def test_named_terms_of_the_unanswerable_examples() -> None:
    assert named_terms("What is the name of Apple's chief executive officer's dog?") == ["Apple"]
    assert named_terms("How many employees does NVIDIA have in its Tokyo office?") == ["Tokyo"]
    assert named_terms("What was Microsoft's revenue in fiscal year 1995?") == [
        "Microsoft",
        "1995",
    ]
    assert named_terms("What dividend will Intel pay per share in 2030?") == ["Intel", "2030"]
    assert named_terms("What is the seating capacity of Amazon's headquarters cafeteria?") == [
        "Amazon"
    ]
    assert named_terms("Which football club does Intel sponsor in Brazil?") == ["Intel", "Brazil"]
    assert named_terms("What is the interest rate on Apple's 2045 bonds issued in 2024?") == [
        "Apple",
        "2045",
        "2024",
    ]
    assert named_terms("How many patents did NVIDIA file in Germany in 2019?") == [
        "Germany",
        "2019",
    ]


@pytest.mark.parametrize(("question", "passages", "term"), UNANSWERABLE)
def test_a_question_naming_what_no_passage_mentions_is_refused(
    question: str, passages: list[str], term: str
) -> None:
    assert term in missing_terms(question, passages)


def test_every_missing_term_is_listed_in_the_order_asked() -> None:
    assert missing_terms(
        "How many patents did NVIDIA file in Germany in 2019?", [NVIDIA_IP, NVIDIA_PEOPLE]
    ) == ["Germany", "2019"]
    # the company and 2024 are in the passages; the 2045 notes are not
    assert missing_terms(
        "What is the interest rate on Apple's 2045 bonds issued in 2024?", [APPLE_DEBT]
    ) == ["Apple", "2045"]
    assert missing_terms(
        "What is the interest rate on Apple's 2045 bonds issued in 2024?",
        [APPLE_DEBT, APPLE_SALES],
    ) == ["2045"]


@pytest.mark.parametrize(
    ("question", "passages"),
    [
        ("How has Apple's total net sales changed over time?", [APPLE_SALES]),
        ("What was NVIDIA's data center revenue in Q3 2023?", [NVIDIA_DATA_CENTER]),
        ("What was NVIDIA's Data Center revenue in the third quarter?", [NVIDIA_DATA_CENTER]),
        ("What is the EBITDA margin?", [APPLE_SALES]),
        ("What is the GAAP gross margin reported in the latest 10-Q?", [APPLE_SALES]),
        (
            "Can any trends be identified in Amazon's AWS (Amazon Web Services) segment revenue "
            "over the reported periods?",
            [AMAZON_AWS],
        ),
        (
            "What was the revenue from Microsoft's cloud services, including Azure, in the latest "
            "quarter?",
            [MICROSOFT_REVENUE],
        ),
        (
            "What patterns can be discerned from Microsoft's Cloud Services revenue throughout the "
            "reported periods?",
            [MICROSOFT_REVENUE],
        ),
        ("Where are Amazon's headquarters?", [AMAZON_FACILITIES]),
        ("In July 2023, how did Apple's Services net sales compare?", [APPLE_SALES]),
        ("Summarize the risk factors. Please list them for each period.", [APPLE_SALES]),
        ("Did NVIDIA have 29,600 employees?", [NVIDIA_PEOPLE]),
        ("Did NVIDIA have 29600 employees or more?", [NVIDIA_PEOPLE]),
    ],
)
def test_an_answerable_question_is_not_refused(question: str, passages: list[str]) -> None:
    assert missing_terms(question, passages) == []


def test_what_a_question_names() -> None:
    # acronyms, letter-digit compounds, months and the words that open a sentence name nothing
    assert named_terms("What is the EBITDA margin?") == []
    assert named_terms("In Q3 2023, what did the 10-Q say about R&D and ESG in September?") == [
        "2023"
    ]
    assert named_terms("Did Intel report revenue? If so, please give it.") == ["Intel"]
    # a possessive opener is a name; a run of Title Case words is one term
    assert named_terms("Apple's revenue from the Personal Computing segment?") == [
        "Apple",
        "Personal Computing",
    ]
    # camel case names, a range of years, grouped figures; decimals and percentages of one digit
    # name nothing an answer must repeat
    assert named_terms("Did iPhone and PlayStation sales reach $1,500 in 2022-2023, or 3.5%?") == [
        "iPhone",
        "PlayStation",
        "1,500",
        "2022",
        "2023",
    ]
    assert named_terms("How did sales change from 2022-23 to 2019-2020?") == [
        "2022",
        "2023",
        "2019",
        "2020",
    ]
    # a run spelled out beside its acronym is the acronym's expansion, not a further name
    assert named_terms("What did AWS (Amazon Web Services) earn?") == []


def test_a_name_is_matched_as_whole_words_in_any_case() -> None:
    assert missing_terms("What does Seattle cost?", ["seattle's offices"]) == []
    assert missing_terms("What does Seattle cost?", ["Seattleite offices"]) == ["Seattle"]
    # singular or plural
    assert missing_terms("Do the Lindqvist ferries run?", ["the Lindqvists' ferry"]) == []
    assert missing_terms("Which Macs sold best?", ["Mac net sales"]) == []
    # every word of a run in one passage, in any order
    assert missing_terms("How did Cloud Services grow?", ["services of the cloud"]) == []
    assert missing_terms("How did Cloud Services grow?", ["the cloud", "services"]) == [
        "Cloud Services"
    ]


def test_a_figure_is_matched_in_its_written_forms() -> None:
    assert missing_terms("What happened in 2030?", ["targets for FY30 were set"]) == []
    assert missing_terms("What happened in 2030?", ["targets for fiscal 2030"]) == []
    assert missing_terms("What happened in 2030?", ["2030"]) == []
    assert missing_terms("What happened in 2030?", ["$2,030 million", "20301", "2030.5"]) == [
        "2030"
    ]
    assert missing_terms("Were 1500 units sold?", ["1,500 units"]) == []
    assert missing_terms("Were 1,500 units sold?", ["1500 units"]) == []
    assert missing_terms("Were 1,500 units sold?", ["11,500 units"]) == ["1,500"]


def test_content_words() -> None:
    # inflected verb forms phrase the question; the subject is a noun
    assert content_words("What is the seating capacity of Amazon's headquarters cafeteria?") == [
        "capacity",
        "headquarters",
        "cafeteria",
    ]
    assert content_words("What is the name of Apple's chief executive officer's dog?") == [
        "chief",
        "executive",
        "officer",
        "dog",
    ]
    assert content_words("How has Apple's total net sales changed over time?") == ["net", "sales"]
    assert content_words("What insights could be gleaned? What does it suggest?") == ["insights"]
    # a figure asked for may be computed, its name written nowhere
    assert content_words("What was the gross margin and its growth?") == ["gross"]


# The words of a 10-Q collection, as its lexical index would answer (stemming aside).
FILING_WORDS = frozenset(
    " ".join(
        [
            APPLE_SALES,
            APPLE_DEBT,
            APPLE_LEADERSHIP,
            NVIDIA_PEOPLE,
            INTEL_MARKETING,
            AMAZON_FACILITIES,
            "capacity employees office revenue fiscal dividend share interest bonds patents file",
        ]
    )
    .lower()
    .replace(",", " ")
    .replace(".", " ")
    .split()
)


def in_filings(word: str) -> bool:
    return word in FILING_WORDS or word.rstrip("s") in FILING_WORDS


@pytest.mark.parametrize(
    ("question", "passages", "word"),
    [
        (
            "What is the name of Apple's chief executive officer's dog?",
            [APPLE_LEADERSHIP, APPLE_SALES],
            "dog",
        ),
        (
            "What is the seating capacity of Amazon's headquarters cafeteria?",
            [AMAZON_FACILITIES],
            "cafeteria",
        ),
        ("Which football club does Intel sponsor in Brazil?", [INTEL_MARKETING], "football"),
    ],
)
def test_a_subject_the_collection_never_mentions_is_missing(
    question: str, passages: list[str], word: str
) -> None:
    assert missing_terms(question, passages) == [] or word not in missing_terms(question, passages)
    assert word in missing_terms(question, passages, in_filings)


def test_words_the_collection_has_are_not_missing() -> None:
    question = "How many employees does Apple's chief executive officer have?"
    assert missing_terms(question, [APPLE_LEADERSHIP, APPLE_SALES], in_filings) == []
    # asked word by word, each once, names and figures aside
    asked: list[str] = []
    missing_terms("Did Apple's net sales rise in 2023? Net sales?", [APPLE_SALES], asked.append)
    assert asked == ["net", "sales", "rise"]
