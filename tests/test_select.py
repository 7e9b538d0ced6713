"""select.py on its own: matchers, decisions, origins; the config keys that feed it."""

from __future__ import annotations

import logging
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kanalwerk.config import Config, load_config
from kanalwerk.errors import ConfigError
from kanalwerk.models import Item
from kanalwerk.parse import parse_feed
from kanalwerk.select import Facts, Rules, compile_matcher, decide, origin_key
from kanalwerk.sources.youtube import (
    channel_id_of_feed,
    is_shorts_link,
    uploads_feed_url,
    video_id_from_url,
)
from kanalwerk.translate.language import normalise_language

CNBC = "UCvJJ_dzjViJCoLf5uKUTwoA"


def item(guid: str, title: str = "Titel", *, day: int | None = None) -> Item:
    published = datetime(2025, 1, day, tzinfo=UTC) if day is not None else None
    return Item(guid=guid, link=f"https://example.org/{guid}", title=title, published=published)


# --- matchers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "text", "matches"),
    [
        ("AI", "Der AI-Boom", True),
        ("AI", "What she said", False),
        ("ai", "NEUES ZU AI.", True),
        ("KI", "Kinderbücher", False),
        ("über", "Über alles", True),
        ("ИИ", "новости ИИ сегодня", True),
        ("ИИ", "ИИСУС", False),
        ("machine learning", "Machine\n  Learning heute", True),
        ("C++", "Neu in C++ 26", True),
        ("/gpt-?\\d/", "GPT4 und gpt-5", True),
        ("/^Shorts/", "Nicht Shorts", False),
    ],
)
def test_keywords_are_whole_words_in_any_case_and_script(
    keyword: str, text: str, matches: bool
) -> None:
    assert (compile_matcher("title", keyword).pattern.search(text) is not None) is matches


@pytest.mark.parametrize("written", ["/R(1|2/", "/[a-/", "  "])
def test_a_bad_pattern_is_refused(written: str) -> None:
    with pytest.raises(ValueError):
        compile_matcher("title", written)


# --- decisions --------------------------------------------------------------------------


def test_backfill_keeps_the_newest_by_date_and_counts_only_taken_items() -> None:
    items = [item(f"g{d}", day=d) for d in (3, 9, 1, 7, 5)]
    premiere = datetime(2025, 1, 10, tzinfo=UTC)
    items.append(Item("p", None, "Premiere", published=premiere, video_id="p" * 11, views=0))
    decisions = decide("c", items, Rules(backfill=2), Facts(first_time=True))
    states = {d.item.guid: (d.state, d.reason) for d in decisions}
    assert states["g9"] == states["g7"] == ("new", None)
    assert {states[g] for g in ("g1", "g3", "g5")} == {("skipped", "backfill")}
    assert states["p"][0] == "held"


def test_a_known_channel_takes_every_new_item_and_decides_only_unknown_or_held() -> None:
    items = [item(f"g{n}", day=n) for n in range(1, 21)]
    facts = Facts(first_time=False, states={"g1": "published", "g2": "skipped", "g3": "held"})
    decisions = decide("c", items, Rules(backfill=0), facts)
    assert [d.item.guid for d in decisions] == [f"g{n}" for n in range(3, 21)]
    assert all(d.state == "new" for d in decisions)


def test_a_claimed_origin_is_a_duplicate_unless_the_claim_is_the_item_itself() -> None:
    video = Item(guid="yt:video:abcdefghijk", link=None, title="V", video_id="abcdefghijk")
    claimed = {"youtube:abcdefghijk": ("CNBC", "cnbc", "yt:video:abcdefghijk")}
    other = decide("blog", [video], Rules(), Facts(False, claimed=claimed))
    assert (other[0].state, other[0].reason) == ("skipped", "duplicate of CNBC")
    itself = decide("cnbc", [video], Rules(), Facts(False, {video.guid: "held"}, claimed))
    assert itself[0].state == "new"


def test_rules_from_selection_and_channel_combine(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "selection:\n  include: [KI]\n  exclude: [Werbung]\n  backfill: 5\n",
        "    exclude: {title: [Shorts]}\n    include: []\n    backfill: all\n    shorts: true\n",
    )
    rules = config.rules(config.channels[0])
    assert [m.written for m in rules.exclude] == ["Werbung", "Shorts"]
    assert rules.include == () and rules.backfill is None and rules.shorts
    plain = config.rules(config.channels[1])
    assert [m.written for m in plain.include] == ["KI"] and plain.backfill == 5
    assert not plain.shorts


# --- origins and YouTube ----------------------------------------------------------------


def test_origin_of_a_video_is_its_id_whatever_the_link() -> None:
    links = [
        "https://www.youtube.com/watch?v=abcdefghijk&t=10",
        "https://youtu.be/abcdefghijk",
        "https://m.youtube.com/shorts/abcdefghijk",
        "https://www.youtube.com/live/abcdefghijk",
    ]
    keys = {origin_key(Item(guid="g", link=link, title="t")) for link in links}
    assert keys == {"youtube:abcdefghijk"}


def test_links_compare_without_scheme_www_slash_fragment_and_tracking() -> None:
    a = origin_key(Item("a", "https://www.Example.org/a/b/?utm_source=rss&x=1#top", "t"))
    b = origin_key(Item("b", "http://example.org/a/b?x=1", "t"))
    c = origin_key(Item("c", "http://example.org/a/b?x=2", "t"))
    assert a == b != c
    assert origin_key(Item("d", None, "t")) is None
    first = origin_key(Item("e", "https://example.org/index.php?artikel1", "t"))
    second = origin_key(Item("f", "https://example.org/index.php?artikel2", "t"))
    assert first != second


def test_items_of_one_channel_are_no_duplicates_of_each_other() -> None:
    show = "https://podcast.example/show"
    items = [Item(f"e{n}", show, f"Folge {n}") for n in range(3)]
    claimed = {"link:podcast.example/show": ("Podcast", "podcast", "e0")}
    decisions = decide("podcast", items, Rules(), Facts(False, {"e0": "held"}, claimed))
    assert [d.state for d in decisions] == ["new", "new", "new"]
    other = decide("blog", [Item("b", show, "B")], Rules(), Facts(False, claimed=claimed))
    assert (other[0].state, other[0].reason) == ("skipped", "duplicate of Podcast")
    home = decide("blog", [Item("b", show, "B")], Rules(), Facts(False, claimed=claimed), home=show)
    assert (home[0].state, home[0].origin) == ("new", None)


def test_youtube_uploads_playlist_and_shorts_links() -> None:
    uploads = uploads_feed_url(CNBC)
    assert uploads.endswith("?playlist_id=UULFvJJ_dzjViJCoLf5uKUTwoA")
    assert channel_id_of_feed(uploads) == CNBC
    assert channel_id_of_feed(f"https://www.youtube.com/feeds/videos.xml?channel_id={CNBC}") == (
        CNBC
    )
    assert channel_id_of_feed("https://example.org/feeds/videos.xml?channel_id=" + CNBC) is None
    assert is_shorts_link("https://www.youtube.com/shorts/abcdefghijk")
    assert not is_shorts_link("https://www.youtube.com/watch?v=abcdefghijk")
    assert not is_shorts_link("https://example.org/shorts/abcdefghijk")
    assert video_id_from_url("https://example.org/watch?v=abcdefghijk") is None


def test_youtube_channels_poll_their_uploads_without_shorts_unless_shorts_is_true(
    tmp_path: Path,
) -> None:
    other, third = "UCbfYPyITQ-7l4upoX8nvctg", "UC0123456789abcdefghijkl"
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "site: {title: T, base_url: 'https://b.example/', author: A}\n"
        "channels:\n"
        f"  - {{name: A, youtube: {CNBC}}}\n"
        f"  - {{name: B, url: 'https://www.youtube.com/feeds/videos.xml?channel_id={other}'}}\n"
        f"  - {{name: C, youtube: '{third}', shorts: true}}\n"
        "  - {name: D, url: 'https://example.org/feed'}\n",
        encoding="utf-8",
    )
    config = load_config(path)
    urls = [config.poll_url(c) for c in config.channels]
    assert urls == [
        uploads_feed_url(CNBC),
        uploads_feed_url(other),
        f"https://www.youtube.com/feeds/videos.xml?channel_id={third}",
        "https://example.org/feed",
    ]


# --- config errors ----------------------------------------------------------------------


def write(folder: Path, selection: str, first: str) -> Config:
    path = folder / "feeds.yaml"
    path.write_text(
        "site: {title: T, base_url: 'https://b.example/', author: A}\n"
        f"{selection}"
        "channels:\n"
        "  - name: Eins\n    url: https://a.example/feed\n"
        f"{first}"
        "  - name: Zwei\n    url: https://b.example/feed\n",
        encoding="utf-8",
    )
    return load_config(path)


@pytest.mark.parametrize(
    ("selection", "channel", "expected"),
    [
        ("", "    include:\n      - KI\n      - '/a(/'\n", ":7: channels[0].include[1]: '/a(/' is"),
        ("selection:\n  exclude: {text: ['/[/']}\n", "", ":3: selection.exclude.text[0]: "),
        ("", "    languages: [en, Englisch]\n", ":5: channels[0].languages[1]: 'Englisch' is"),
        ("", "    min_duration: 10m\n    max_duration: 1m\n", "min_duration is longer than"),
        ("", "    backfill: -1\n", ":5: channels[0].backfill"),
        ("", "    backfill: some\n", "expected a whole number of items or all"),
        ("selection:\n  shorts: maybe\n", "", ":3: selection.shorts"),
    ],
)
def test_bad_selection_keys_name_line_and_key(
    tmp_path: Path, selection: str, channel: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        write(tmp_path, selection, channel)
    assert expected in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / "feeds.yaml"))


def test_languages_are_normalised() -> None:
    assert normalise_language("EN-us") == "en"


def test_include_reason_lists_the_words_per_field() -> None:
    rules = Rules(
        include=(
            compile_matcher("title or text", "AI"),
            compile_matcher("title or text", "DeepSeek"),
            compile_matcher("category", "KI"),
        )
    )
    (skipped,) = decide("c", [item("g", "Börse")], rules, Facts(first_time=False))
    assert (
        skipped.reason == "include: matches none of title or text 'AI', 'DeepSeek'; category 'KI'"
    )


def test_the_readme_example_is_a_valid_config(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Choosing what gets published", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "feeds.yaml"
    site = "site: {title: T, base_url: 'https://b.example/', author: A}\n"
    path.write_text(site + example, encoding="utf-8")
    config = load_config(path)
    cnbc = config.rules(config.channels[0])
    assert [m.written for m in cnbc.exclude] == ["Werbung", "/sponsored/"]
    assert cnbc.backfill == 5 and cnbc.min_duration is None and cnbc.languages == {"en", "de"}
    podcast = config.rules(config.channels[2])
    assert podcast.backfill == 1 and podcast.min_duration == 600


def test_parse_carries_categories_duration_and_views(data_dir: Path) -> None:
    podcast = (
        b'<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
        b'xmlns:media="http://search.yahoo.com/mrss/"><channel><title>P</title>'
        b"<item><title>a</title><guid>a</guid><category>KI</category><category> KI </category>"
        b"<category>News</category><itunes:duration>1:02:03</itunes:duration></item>"
        b"<item><title>b</title><guid>b</guid><itunes:duration>754</itunes:duration></item>"
        b'<item><title>c</title><guid>c</guid><media:content url="https://p.example/c.mp4" '
        b'duration="75"/></item><item><title>d</title><guid>d</guid></item></channel></rss>'
    )
    items = parse_feed(podcast, url="https://p.example/feed").items
    assert [(i.categories, i.duration) for i in items] == [
        (("KI", "News"), 3723),
        ((), 754),
        ((), 75),
        ((), None),
    ]
    json_feed = b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", '
    json_feed += b'"content_text": "x", "tags": ["AI", 3, "Chips"]}]}'
    (tagged,) = parse_feed(json_feed, url="https://j.example/feed.json").items
    assert tagged.categories == ("AI", "Chips")
    youtube = parse_feed((data_dir / "youtube_cnbc.xml").read_bytes(), url="https://y.example/")
    assert [i.views for i in youtube.items] == [184233, 512870, 5120418]


# --- regex flags, runaway patterns, Unicode forms ----------------------------------------


@pytest.mark.parametrize(
    ("written", "text", "matches"),
    [
        ("/^gpt/i", "GPT-5 ist da", True),
        ("/^zweite/m", "erste Zeile\nzweite Zeile", True),
        ("/^zweite/", "erste Zeile\nzweite Zeile", False),
        ("/a.b/s", "a\nb", True),
        ("/a.b/", "a\nb", False),
        ("/gpt - 5/x", "GPT-5", True),
    ],
)
def test_a_regex_takes_trailing_flags(written: str, text: str, matches: bool) -> None:
    assert (compile_matcher("title", written).pattern.search(text) is not None) is matches


def test_an_unknown_regex_flag_is_a_config_error_naming_file_line_and_key(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as caught:
        write(tmp_path, "selection:\n  exclude: [/werbung/q]\n", "")
    message = str(caught.value)
    assert "feeds.yaml:" in message and "exclude" in message and "'q'" in message


def test_a_runaway_regex_counts_as_no_match_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rules = Rules(exclude=(compile_matcher("title", "/(a|aa)+$/"),))
    slow = Item("g", "https://example.org/g", "a" * 40 + "!")
    with caplog.at_level(logging.WARNING):
        (decision,) = decide("blog", [slow], rules, Facts(False))
    assert decision.state == "new"
    assert [r.getMessage() for r in caplog.records] == [
        "blog: exclude /(a|aa)+$/ took too long on 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'; "
        "counted as no match"
    ]


def test_keywords_and_texts_compare_in_one_unicode_form() -> None:
    nfd = unicodedata.normalize("NFD", "Müller")
    nfc = unicodedata.normalize("NFC", "Müller")
    assert compile_matcher("title", nfd).pattern.search(f"Herr {nfc} sagt") is not None
    rules = Rules(include=(compile_matcher("title", nfc),))
    (decision,) = decide("blog", [Item("g", None, f"Herr {nfd} sagt")], rules, Facts(False))
    assert decision.state == "new"
