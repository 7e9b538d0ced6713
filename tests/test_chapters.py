"""Chapters from video descriptions, and the German chapter list on the article."""

from __future__ import annotations

from kanalwerk.sources.chapters import Chapter, at_time, chapters, chapters_html

DESCRIPTION = """DeepSeek's R1 shook the markets this week. We explain what the model can do,
what it cost to train and what it means for Nvidia.

Subscribe: https://www.youtube.com/@CNBC?sub_confirmation=1

Chapters:
00:00 Intro
01:12 What is DeepSeek R1?
04:35 - Training for $5.6 million
12:34 | Nvidia's $600 billion day
(23:05) What Washington says
1:02:03 Outlook

#DeepSeek #AI #Nvidia
"""


def test_chapters_from_a_real_looking_description() -> None:
    assert chapters(DESCRIPTION) == [
        Chapter(0, "Intro"),
        Chapter(72, "What is DeepSeek R1?"),
        Chapter(275, "Training for $5.6 million"),
        Chapter(754, "Nvidia's $600 billion day"),
        Chapter(1385, "What Washington says"),
        Chapter(3723, "Outlook"),
    ]


def test_times_that_are_no_chapters_give_none() -> None:
    # Not from 0:00, too few, not rising: times mentioned in passing.
    assert chapters("Live at 19:00 tonight\n20:30 Q&A\n21:00 Goodbye") == []
    assert chapters("0:00 Intro\n5:00 The rest") == []
    assert chapters("0:00 Intro\n5:00 Middle\n3:00 Back again\n9:00 End") == []
    assert chapters("") == chapters(None) == []


def test_a_time_above_the_list_does_not_hide_it() -> None:
    text = "Recorded at 19:30 in Berlin.\n0:00 Start\n2:10 Middle\n7:45 End"
    assert [c.start for c in chapters(text)] == [0, 130, 465]


def test_each_chapter_links_to_its_place_in_the_video() -> None:
    video = "https://www.youtube.com/watch?v=Yc8b7Qx2TfE"
    html = chapters_html(chapters(DESCRIPTION), video)

    assert html.startswith("<ol><li>")
    assert (
        '<li><a href="https://www.youtube.com/watch?v=Yc8b7Qx2TfE&amp;t=754s">12:34</a> '
        "Nvidia's $600 billion day</li>"
    ) in html
    assert '">1:02:03</a> Outlook</li></ol>' in html
    assert chapters_html([], video) == ""
    assert at_time(video + "&t=5s", 90) == video + "&t=90s"
