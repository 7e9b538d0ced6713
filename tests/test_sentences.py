from __future__ import annotations

import pytest

from kanalwerk.translate.sentences import split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("   \n ", []),
        ("One sentence without a stop", ["One sentence without a stop"]),
        (
            "First one. Second one! Third one? Fourth.",
            ["First one.", "Second one!", "Third one?", "Fourth."],
        ),
        ("Wait… Then it started.", ["Wait…", "Then it started."]),
        ("Really?! Yes.", ["Really?!", "Yes."]),
        # a lower-case word after the stop does not start a sentence
        ("It costs 5 dollars. and more", ["It costs 5 dollars. and more"]),
        ("He hesitated... and then left.", ["He hesitated... and then left."]),
        # abbreviations
        ("Mr. Smith met Dr. Jones. They talked.", ["Mr. Smith met Dr. Jones.", "They talked."]),
        ("Use tools, e.g. Python. It helps.", ["Use tools, e.g. Python.", "It helps."]),
        ("Many things, i.e. All of them.", ["Many things, i.e. All of them."]),
        ("Apples, pears etc. Are fruit.", ["Apples, pears etc. Are fruit."]),
        ("Red vs. Blue today. Blue won.", ["Red vs. Blue today.", "Blue won."]),
        ("See No. 5 in the list. Done.", ["See No. 5 in the list.", "Done."]),
        ("He said no. Then he left.", ["He said no.", "Then he left."]),
        ("Made in the U.S. Since 1990.", ["Made in the U.S. Since 1990."]),
        # German
        ("Das gilt z. B. Für alle. Gut so.", ["Das gilt z. B. Für alle.", "Gut so."]),
        ("Es gilt, d. h. Alle zahlen.", ["Es gilt, d. h. Alle zahlen."]),
        ("Äpfel, Birnen usw. Sind Obst.", ["Äpfel, Birnen usw. Sind Obst."]),
        ("Am 27. Januar 2025 kam es. Dann nicht.", ["Am 27. Januar 2025 kam es.", "Dann nicht."]),
        ("Das war 2024. Dann kam 2025.", ["Das war 2024.", "Dann kam 2025."]),
        ("Über Nacht. Übermorgen!", ["Über Nacht.", "Übermorgen!"]),
        # initials, decimals, versions, URLs
        ("J. K. Rowling wrote it. Fans loved it.", ["J. K. Rowling wrote it.", "Fans loved it."]),
        ("Pi is 3.14 roughly. Yes.", ["Pi is 3.14 roughly.", "Yes."]),
        ("We shipped version 2.0. Next is 3.0.", ["We shipped version 2.0.", "Next is 3.0."]),
        (
            "Read https://example.org/a.b.html today. Or visit www.example.com. Thanks.",
            ["Read https://example.org/a.b.html today.", "Or visit www.example.com.", "Thanks."],
        ),
        # quotes and brackets
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("It ended (finally.) The end.", ["It ended (finally.)", "The end."]),
        ("Done. „Neu“ ist das.", ["Done.", "„Neu“ ist das."]),
        ("Done. 3 more to go.", ["Done.", "3 more to go."]),
        ("Spaces   between.    Sentences  here.", ["Spaces   between.", "Sentences  here."]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_no_text_is_lost() -> None:
    text = "A first one. Dr. Who? Yes! z. B. Äpfel… Then 2.5 things. End"
    assert "".join(split_sentences(text)).replace(" ", "") == text.replace(" ", "")
