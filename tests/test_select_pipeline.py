"""Choosing what gets published, end to end: feeds on 127.0.0.1, the CLI in process."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from kanalwerk.config import load_config
from kanalwerk.models import FetchResult, Item
from kanalwerk.pipeline import Pipeline
from kanalwerk.pipeline.poll import _store_result
from kanalwerk.select import UPCOMING_REASON, Decision, origin_key
from kanalwerk.sources.youtube import feed_url_for_channel_id, uploads_feed_url
from kanalwerk.store import Store
from tests.cli import run_cli
from tests.selection_feeds import CHANNEL, Post, Video, rss, write_config, youtube
from tests.servers import LocalServer, Resource

ATOM = "{http://www.w3.org/2005/Atom}"


def published_titles(folder: Path) -> list[str]:
    feed = folder / "site" / "feed.atom"
    if not feed.exists():
        return []
    root = etree.parse(str(feed)).getroot()
    return [e.findtext(f"{ATOM}title") or "" for e in root.findall(f"{ATOM}entry")]


def run_once(config: Path) -> None:
    result = run_cli(config, "run", "--once")
    assert result.returncode == 0, result.stderr


def listed(config: Path, *args: str) -> dict[str, tuple[str, str, str]]:
    """`kanalwerk items ARGS` as title → (channel, state, reason)."""
    result = run_cli(config, "items", *args)
    assert result.returncode == 0, result.stderr
    rows: dict[str, tuple[str, str, str]] = {}
    for line in result.stdout.splitlines():
        _id, channel, state, _date, rest = line.split("  ", 4)
        title, _, reason = rest.partition("  (")
        rows[title] = (channel, state, reason.removesuffix(")"))
    return rows


def channel(name: str, server: LocalServer, path: str, extra: str = "") -> str:
    return f"  - name: {name}\n    url: {server.url(path)}\n    language: de\n{extra}"


# --- backfill ---------------------------------------------------------------------------


def test_a_new_channel_publishes_its_newest_items_and_then_everything_new(
    tmp_path: Path, server: LocalServer
) -> None:
    posts = [Post(f"Beitrag {n}", n) for n in range(40)]
    server.routes["/blog.rss"] = Resource(rss(posts))
    config = write_config(tmp_path, channel("Blog", server, "/blog.rss"))
    run_once(config)
    assert sorted(published_titles(tmp_path)) == ["Beitrag 37", "Beitrag 38", "Beitrag 39"]
    skipped = listed(config, "--skipped")
    assert len(skipped) == 37
    assert skipped["Beitrag 0"] == ("blog", "skipped", "backfill")

    # Later items are all taken, however many arrive at once.
    later = [Post(f"Neu {n}", n) for n in range(40, 50)]
    server.routes["/blog.rss"] = Resource(rss(posts[-5:] + later))
    run_once(config)
    assert len(published_titles(tmp_path)) == 13
    assert len(listed(config, "--skipped")) == 37


def test_backfill_is_set_globally_or_per_channel_and_applies_to_channels_added_later(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/a.rss"] = Resource(rss([Post(f"A{n}", n) for n in range(6)]))
    server.routes["/b.rss"] = Resource(rss([Post(f"B{n}", n) for n in range(6)]))
    server.routes["/c.rss"] = Resource(rss([Post(f"C{n}", n) for n in range(6)]))
    selection = "selection:\n  backfill: 2\n"
    one = channel("A", server, "/a.rss") + channel("B", server, "/b.rss", "    backfill: 0\n")
    config = write_config(tmp_path, one, selection)
    run_once(config)
    assert sorted(published_titles(tmp_path)) == ["A4", "A5"]

    # A channel added to a store that exists: new to the store, so backfill applies.
    write_config(tmp_path, one + channel("C", server, "/c.rss", "    backfill: all\n"), selection)
    run_once(config)
    assert sorted(published_titles(tmp_path)) == ["A4", "A5", "C0", "C1", "C2", "C3", "C4", "C5"]
    assert {t for t, row in listed(config, "--channel", "B").items() if row[1] == "skipped"} == {
        f"B{n}" for n in range(6)
    }


# --- rules ------------------------------------------------------------------------------


def test_every_rule_kind_includes_and_skips_with_its_reason(
    tmp_path: Path, server: LocalServer
) -> None:
    posts = [
        Post("DeepSeek stellt R2 vor", 1, categories=("KI",)),
        Post("Werbung: Die besten Mixer", 2, categories=("KI",)),
        Post("Neues von OpenAI", 3, body="Ein Bericht über GPT-5.", categories=("KI",)),
        Post("Kochrezepte der Woche", 4, categories=("Kochen",)),
        Post("Kurzmeldung zur KI", 5, categories=("KI",), duration="0:45"),
        Post("Langes Gespräch über KI", 6, categories=("KI",), duration="1:02:03"),
        Post("Podcast über KI-Chips", 7, categories=("KI",), duration="25:00"),
        Post("Sponsored: KI-Kurs", 8, body="Jetzt kaufen!", categories=("KI",)),
    ]
    server.routes["/blog.rss"] = Resource(rss(posts))
    server.routes["/fr.rss"] = Resource(
        rss([Post("Les nouvelles de l'intelligence artificielle", 1)], language="fr")
    )
    rules = (
        "    backfill: all\n"
        "    include: {category: [KI]}\n"
        "    exclude:\n"
        "      title: [Werbung]\n"
        "      text: ['/jetzt\\s+kaufen/']\n"
        "    min_duration: 1m\n"
        "    max_duration: 1h\n"
    )
    channels = channel("Blog", server, "/blog.rss", rules)
    channels += f"  - name: Nouvelles\n    url: {server.url('/fr.rss')}\n"
    config = write_config(tmp_path, channels, "selection:\n  languages: [de]\n")
    run_once(config)
    assert sorted(published_titles(tmp_path)) == [
        "DeepSeek stellt R2 vor",
        "Neues von OpenAI",
        "Podcast über KI-Chips",
    ]
    reasons = {title: row[2] for title, row in listed(config, "--skipped").items()}
    assert reasons == {
        "Werbung: Die besten Mixer": "exclude: title matches 'Werbung'",
        "Sponsored: KI-Kurs": "exclude: text matches '/jetzt\\s+kaufen/'",
        "Kochrezepte der Woche": "include: matches none of category 'KI'",
        "Kurzmeldung zur KI": "min_duration: 0:45 is shorter than 1:00",
        "Langes Gespräch über KI": "max_duration: 1:02:03 is longer than 1:00:00",
        "Les nouvelles de l'intelligence artificielle": "languages: fr is not one of de",
    }


def test_keywords_match_whole_words_in_title_or_text(tmp_path: Path, server: LocalServer) -> None:
    posts = [
        Post("Der KI-Boom geht weiter", 1),
        Post("Kinderbücher im Test", 2),
        Post("Wochenrückblick", 3, body="Heute: ki und Robotik."),
        Post("Ergebnisse", 4, body="Ohne Bezug."),
    ]
    server.routes["/blog.rss"] = Resource(rss(posts))
    extra = "    backfill: all\n    include: [KI]\n"
    config = write_config(tmp_path, channel("Blog", server, "/blog.rss", extra))
    run_once(config)
    assert sorted(published_titles(tmp_path)) == ["Der KI-Boom geht weiter", "Wochenrückblick"]
    skipped = listed(config, "--skipped")
    assert skipped["Kinderbücher im Test"][2] == "include: matches none of title or text 'KI'"


def test_a_changed_rule_applies_to_new_items_only(tmp_path: Path, server: LocalServer) -> None:
    posts = [Post("Werbung eins", 1), Post("Nachricht", 2)]
    server.routes["/blog.rss"] = Resource(rss(posts))
    before = channel("Blog", server, "/blog.rss", "    backfill: all\n    exclude: [Werbung]\n")
    config = write_config(tmp_path, before)
    run_once(config)
    assert published_titles(tmp_path) == ["Nachricht"]

    write_config(tmp_path, channel("Blog", server, "/blog.rss", "    backfill: all\n"))
    server.routes["/blog.rss"] = Resource(rss([*posts, Post("Werbung zwei", 3)]))
    run_once(config)
    assert sorted(published_titles(tmp_path)) == ["Nachricht", "Werbung zwei"]
    assert (
        listed(config, "--skipped")["Werbung eins"][2] == "exclude: title or text matches 'Werbung'"
    )


def test_a_regex_that_does_not_compile_names_file_line_and_key(
    tmp_path: Path, server: LocalServer
) -> None:
    extra = "    include:\n      title: [DeepSeek, '/R(1|2/']\n"
    config = write_config(tmp_path, channel("Blog", server, "/blog.rss", extra))
    result = run_cli(config, "check")
    assert result.returncode == 1
    line = (
        config.read_text(encoding="utf-8").splitlines().index("      title: [DeepSeek, '/R(1|2/']")
    )
    assert f"feeds.yaml:{line + 1}: channels[0].include.title[1]: '/R(1|2/' is not a valid" in (
        result.stderr
    )
    assert not (tmp_path / "kanalwerk.db").exists()


# --- YouTube ----------------------------------------------------------------------------


def test_youtube_publishes_videos_not_shorts_and_premieres_once_aired(
    tmp_path: Path, server: LocalServer
) -> None:
    videos = [
        Video("aaaaaaaaaa1", "Erstes Video", 1),
        Video("sssssssssss", "Ein Short", 2, short=True),
        Video("aaaaaaaaaa2", "Zweites Video", 3),
        Video("ppppppppppp", "Premiere am Abend", 4, views=0),
    ]
    server.routes["/yt.xml"] = Resource(youtube(videos))
    config = write_config(tmp_path, channel("Kanal", server, "/yt.xml"))
    run_once(config)
    assert sorted(published_titles(tmp_path)) == ["Erstes Video", "Zweites Video"]
    assert listed(config, "--skipped")["Ein Short"][2].startswith("Shorts")
    held = listed(config, "--state", "held")
    assert held == {"Premiere am Abend": ("kanal", "held", UPCOMING_REASON)}

    # Not aired on the next poll either: still held. Then it airs and is published.
    run_once(config)
    assert "Premiere am Abend" not in published_titles(tmp_path)
    aired = [*videos[:3], Video("ppppppppppp", "Premiere am Abend", 4, views=532)]
    server.routes["/yt.xml"] = Resource(youtube(aired))
    run_once(config)
    assert sorted(published_titles(tmp_path)) == [
        "Erstes Video",
        "Premiere am Abend",
        "Zweites Video",
    ]
    assert "Ein Short" not in published_titles(tmp_path)


def test_shorts_true_publishes_shorts(tmp_path: Path, server: LocalServer) -> None:
    server.routes["/yt.xml"] = Resource(youtube([Video("sssssssssss", "Ein Short", 2, short=True)]))
    config = write_config(tmp_path, channel("Kanal", server, "/yt.xml", "    shorts: true\n"))
    run_once(config)
    assert published_titles(tmp_path) == ["Ein Short"]


# --- duplicates -------------------------------------------------------------------------


def test_the_same_original_through_two_channels_is_one_article(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/yt.xml"] = Resource(youtube([Video("vvvvvvvvvvv", "Das Video", 1)]))
    blog = [
        Post("Kanal zeigt: Das Video", 1, link="https://youtu.be/vvvvvvvvvvv"),
        Post("Ein Artikel", 2, link="https://news.example.com/artikel?utm_source=rss"),
    ]
    news = [Post("Ein Artikel (Agentur)", 3, link="http://www.news.example.com/artikel/")]
    server.routes["/blog.rss"] = Resource(rss(blog))
    server.routes["/news.rss"] = Resource(rss(news))
    first = channel("Kanal", server, "/yt.xml") + channel("Blog", server, "/blog.rss")
    config = write_config(tmp_path, first)
    run_once(config)
    titles = published_titles(tmp_path)
    assert len(titles) == 2 and "Ein Artikel" in titles
    skipped = listed(config, "--skipped")
    assert len(skipped) == 1
    (duplicate,) = skipped.values()
    assert duplicate[2] in ("duplicate of Kanal", "duplicate of Blog")

    write_config(tmp_path, first + channel("News", server, "/news.rss"))
    run_once(config)
    assert len(published_titles(tmp_path)) == 2
    assert listed(config, "--skipped")["Ein Artikel (Agentur)"] == (
        "news",
        "skipped",
        "duplicate of Blog",
    )


def test_a_channel_without_uploads_playlist_falls_back_to_its_channel_feed(
    tmp_path: Path,
) -> None:
    """YouTube has no uploads playlist for a channel with only Shorts: it answers 404."""
    config = load_config(write_config(tmp_path, f"  - name: Kanal\n    youtube: {CHANNEL}\n"))
    (kanal,) = config.channels
    uploads = uploads_feed_url(CHANNEL)
    with Store.open(config.store) as store, Pipeline(config, store):
        assert store.fetch_states(["kanal"])["kanal"].url == uploads
        missing = FetchResult("kanal", uploads, uploads, 404, error="HTTP 404 Not Found")
        _store_result(store, kanal, config.rules(kanal), missing, None)
        channel_feed = store.fetch_states(["kanal"])["kanal"].url
        assert channel_feed == feed_url_for_channel_id(CHANNEL)
    with Store.open(config.store) as store, Pipeline(config, store):  # a restart keeps it
        assert store.fetch_states(["kanal"])["kanal"].url == channel_feed


def test_items_of_one_channel_sharing_a_link_are_all_published(
    tmp_path: Path, server: LocalServer
) -> None:
    """A podcast links every episode to its show page, release notes to anchors of one
    page, an old CMS to `index.php?artikel1`: each item is still its own original."""
    show = "https://podcast.example.net/show"
    episodes = [Post(f"Folge {n}", n, link=show) for n in range(5)]
    notes = [
        Post(f"Version 1.{n}", n, link=f"https://app.example.net/notes#v1-{n}") for n in range(3)
    ]
    cms = [
        Post(f"Artikel {n}", n, link=f"https://cms.example.net/index.php?artikel{n}")
        for n in range(2)
    ]
    server.routes["/podcast.rss"] = Resource(rss(episodes, site=show))
    server.routes["/notes.rss"] = Resource(rss(notes))
    server.routes["/cms.rss"] = Resource(rss(cms))
    channels = (
        channel("Podcast", server, "/podcast.rss")
        + channel("Notes", server, "/notes.rss")
        + channel("CMS", server, "/cms.rss")
    )
    config = write_config(tmp_path, channels, "selection:\n  backfill: all\n")
    run_once(config)
    assert len(published_titles(tmp_path)) == 10
    assert listed(config, "--skipped") == {}

    server.routes["/podcast.rss"] = Resource(
        rss([*episodes, Post("Folge 5", 5, link=show)], site=show)
    )
    server.routes["/notes.rss"] = Resource(
        rss([*notes, Post("Version 1.3", 3, link="https://app.example.net/notes#v1-3")])
    )
    run_once(config)
    titles = published_titles(tmp_path)
    assert len(titles) == 12 and "Folge 5" in titles and "Version 1.3" in titles


def test_an_item_linking_to_another_channels_home_page_is_no_duplicate(
    tmp_path: Path, server: LocalServer
) -> None:
    show = "https://podcast.example.net/show"
    server.routes["/a.rss"] = Resource(rss([Post("Folge A", 1, link=show)], site=show))
    server.routes["/b.rss"] = Resource(rss([Post("Folge B", 2, link=show)], site=show))
    config = write_config(tmp_path, channel("A", server, "/a.rss") + channel("B", server, "/b.rss"))
    run_once(config)
    assert sorted(published_titles(tmp_path)) == ["Folge A", "Folge B"]


def test_renaming_a_channel_publishes_nothing_backfill_skipped(
    tmp_path: Path, server: LocalServer
) -> None:
    server.routes["/blog.rss"] = Resource(rss([Post(f"Beitrag {n}", n) for n in range(10)]))
    config = write_config(tmp_path, channel("Blog", server, "/blog.rss"))
    run_once(config)
    published = ["Beitrag 7", "Beitrag 8", "Beitrag 9"]
    assert sorted(published_titles(tmp_path)) == published

    write_config(tmp_path, channel("Blog Neu", server, "/blog.rss"))
    run_once(config)
    assert sorted(published_titles(tmp_path)) == published
    assert set(listed(config, "--channel", "blog-neu").values()) <= {
        ("blog-neu", "skipped", "duplicate of Blog"),
        ("blog-neu", "skipped", "backfill"),
    }


def test_a_youtube_channel_polled_at_another_url_of_the_same_channel_stays_known(
    tmp_path: Path,
) -> None:
    """A store from before the uploads playlist, or `shorts:` toggled: no new backfill."""
    path = write_config(tmp_path, f"  - name: Kanal\n    youtube: {CHANNEL}\n")
    config = load_config(path)
    (kanal,) = config.channels
    before = feed_url_for_channel_id(CHANNEL)
    with Store.open(config.store) as store:
        store.sync_channels([(kanal.id, kanal.name, before)])
        video = Item("yt:video:vvvvvvvvvvv", "https://youtu.be/vvvvvvvvvvv", "V")
        store.store_decisions(kanal.id, [Decision(video, "new", None, origin_key(video))])
    with Store.open(config.store) as store, Pipeline(config, store):
        assert store.fetch_states([kanal.id])[kanal.id].url == uploads_feed_url(CHANNEL)
        assert not store.selection_facts(kanal.id, []).first_time
    config = load_config(
        write_config(tmp_path, f"  - name: Kanal\n    youtube: {CHANNEL}\n    shorts: true\n")
    )
    with Store.open(config.store) as store, Pipeline(config, store):
        assert store.fetch_states([kanal.id])[kanal.id].url == before
        assert not store.selection_facts(kanal.id, []).first_time
