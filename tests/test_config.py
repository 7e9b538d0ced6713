from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from kanalwerk.config import (
    ChannelConfig,
    Config,
    SiteConfig,
    load_config,
    parse_duration,
    parse_size,
)
from kanalwerk.errors import ConfigError
from tests.cli import run_cli

SHIPPED = Path(__file__).resolve().parents[1] / "feeds.yaml"

MINIMAL = """\
site:
  title: Testseite
  base_url: https://blog.example.net/kanal
  author: Redaktion
channels:
  - name: Beispiel
    url: https://feeds.example.net/atom.xml
"""

FULL = """\
site:
  title: Testseite
  base_url: https://blog.example.net/
  author: Redaktion
output: public/
store: sqlite:///data/k.db
schedule:
  interval: 1h30m
  jitter: 45
fetch:
  max_bytes: 512KB
  timeout: 5
translator:
  engine: openai
  fallback: [deepl, local]
  budget:
    daily_characters: 1000
  local:
    data_dir: models
channels:
  - name: Über Änderungen
    url: https://feeds.example.net/a.xml
    interval: 2d
  - name: CNBC
    youtube: UCvJJ_dzjViJCoLf5uKUTwoA
  - name: Per URL
    youtube: https://www.youtube.com/channel/UCbfYPyITQ-7l4upoX8nvctg/videos
  - name: Per Handle
    youtube: "@CNBC"
  - name: Handle URL
    youtube: https://www.youtube.com/@Computerphile
    enabled: false
"""


def write(tmp_path: Path, text: str, name: str = "feeds.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text, "broken.yaml"))
    return str(info.value)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the n-th line containing `needle`."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


# --- loading ---------------------------------------------------------------------------------


def test_shipped_config_loads() -> None:
    config = load_config(SHIPPED)
    assert config.path == SHIPPED
    assert config.translator.engine == "local"
    assert config.site.base_url.endswith("/")
    names = [c.name for c in config.channels]
    assert "CNBC" in names and "Simon Willison" in names
    assert len({c.id for c in config.channels}) == len(config.channels)
    for channel in config.channels:
        assert channel.feed_url is not None, channel.name  # no handle lookup needed at start
    cnbc = next(c for c in config.channels if c.name == "CNBC")
    assert cnbc.feed_url == (
        "https://www.youtube.com/feeds/videos.xml?channel_id=UCvJJ_dzjViJCoLf5uKUTwoA"
    )


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.path == (tmp_path / "feeds.yaml").resolve()
    assert config.site.base_url == "https://blog.example.net/kanal/"
    assert config.site.subtitle is None
    assert config.site.attribution.heading == "Hinweis zur Quelle"
    assert "übersetzt" in config.site.attribution.text
    assert "übersetzt" not in config.site.attribution.untranslated_text
    assert config.output == tmp_path.resolve() / "output"
    assert config.store == f"sqlite:///{tmp_path.resolve() / 'kanalwerk.db'}"
    assert config.schedule.interval == timedelta(minutes=30)
    assert config.schedule.jitter == timedelta(minutes=2)
    fetch = config.fetch
    assert (fetch.timeout, fetch.connect_timeout, fetch.max_bytes) == (30.0, 10.0, 10_000_000)
    assert (fetch.max_connections, fetch.max_per_host, fetch.user_agent) == (8, 6, None)
    assert fetch.max_streams_per_host == 24
    tr = config.translator
    assert (tr.engine, tr.fallback, tr.mode, tr.source_language) == (
        "local",
        [],
        "translate",
        "auto",
    )
    assert (tr.target_language, tr.glossary, tr.budget, tr.max_attempts) == ("de", {}, {}, 5)
    assert tr.openai.base_url == "https://api.openai.com/v1"
    assert tr.openai.api_key_env == "OPENAI_API_KEY"
    assert tr.deepl.api_key_env == "DEEPL_API_KEY" and tr.deepl.base_url is None
    assert tr.libretranslate.url == "http://127.0.0.1:5000"
    assert tr.local.data_dir is None and tr.local.threads == 0 and tr.local.beam_size == 2
    channel = config.channels[0]
    assert (channel.id, channel.enabled, channel.interval, channel.language) == (
        "beispiel",
        True,
        None,
        None,
    )


def test_models_are_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(ValidationError):
        config.site.title = "anders"


def test_full_config_and_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative paths must not depend on the working directory
    config = load_config(Path("..") / "conf" / write(folder, FULL).name)
    base = folder.resolve()
    assert config.path == base / "feeds.yaml"
    assert config.output == base / "public"
    assert config.store == f"sqlite:///{base / 'data' / 'k.db'}"
    assert config.translator.local.data_dir == base / "models"
    assert config.schedule.interval == timedelta(hours=1, minutes=30)
    assert config.schedule.jitter == timedelta(seconds=45)
    assert config.fetch.max_bytes == 512_000
    assert config.fetch.timeout == 5.0
    assert config.translator.fallback == ["deepl", "local"]
    assert config.translator.budget["*"].daily_characters == 1000
    assert [c.id for c in config.channels] == [
        "ueber-aenderungen",
        "cnbc",
        "per-url",
        "per-handle",
        "handle-url",
    ]
    assert config.channels[0].interval == timedelta(days=2)
    assert config.channels[4].enabled is False


@pytest.fixture
def postgres_drivers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Importable `psycopg2` and `psycopg` packages, as if the drivers were installed.

    No PostgreSQL driver is installed here; the config only asks whether one can be
    imported, never imports it.
    """
    drivers = tmp_path / "drivers"
    for name in ("psycopg2", "psycopg"):
        (drivers / name).mkdir(parents=True)
        (drivers / name / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.syspath_prepend(str(drivers))


@pytest.mark.usefixtures("postgres_drivers")
def test_absolute_and_server_store_urls_are_kept(tmp_path: Path) -> None:
    absolute = tmp_path / "abs.db"
    text = MINIMAL + f"store: sqlite:///{absolute}\n"
    assert load_config(write(tmp_path, text)).store == f"sqlite:///{absolute}"
    text = MINIMAL + "store: postgresql://kanal@db.example.net/kanalwerk\n"
    assert load_config(write(tmp_path, text)).store == "postgresql://kanal@db.example.net/kanalwerk"


def test_per_engine_budget(tmp_path: Path) -> None:
    text = MINIMAL + "translator:\n  budget:\n    openai: {daily_tokens: 5000}\n"
    budget = load_config(write(tmp_path, text)).translator.budget
    assert set(budget) == {"openai"}
    assert budget["openai"].daily_tokens == 5000 and budget["openai"].daily_characters is None


# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(minutes=90)),
        ("1h 30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("90", timedelta(seconds=90)),
        (120, timedelta(minutes=2)),
    ],
)
def test_durations(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["5x", "", "m", "1.5h", "-5", True, -3, 2.5, None])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match=r"is not a duration; use e\.g\. 30m"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10MB", 10_000_000),
        ("512KB", 512_000),
        ("512 kb", 512_000),
        ("1MiB", 1_048_576),
        ("1.5MB", 1_500_000),
        ("2000", 2000),
        (4096, 4096),
    ],
)
def test_sizes(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("name", "channel_id"),
    [
        ("Zwei Minuten Über KI – ÄÖÜ ß", "zwei-minuten-ueber-ki-aeoeue-ss"),
        ("  Café & Crème!  ", "cafe-creme"),
        ("Straße der Ökonomie", "strasse-der-oekonomie"),
        ("Größere Übermaße für Äpfel & Öl", "groessere-uebermasse-fuer-aepfel-oel"),
        ("Heise Online: Künstliche Intelligenz – Ein sehr langer Kanalname " * 2, None),
        # Ids name stored channels, so they keep the first rule: a decomposed umlaut
        # loses its dots and the capital ẞ is dropped (article slugs do better).
        ("U\u0308ber KI", "uber-ki"),
        ("GROẞE Fragen", "groe-fragen"),
    ],
)
def test_channel_id_from_german_name(name: str, channel_id: str | None) -> None:
    channel = ChannelConfig(name=name, url="https://example.org/feed")
    if channel_id is None:  # ids are not cut like article slugs: a cut could make two equal
        assert channel.id == "-".join(re.findall(r"[a-z0-9]+", name.lower().replace("ü", "ue")))
        assert len(channel.id) > 60
    else:
        assert channel.id == channel_id


@pytest.mark.parametrize(
    ("youtube", "channel_id", "handle"),
    [
        ("UCvJJ_dzjViJCoLf5uKUTwoA", "UCvJJ_dzjViJCoLf5uKUTwoA", None),
        (
            "https://www.youtube.com/channel/UCvJJ_dzjViJCoLf5uKUTwoA",
            "UCvJJ_dzjViJCoLf5uKUTwoA",
            None,
        ),
        ("https://youtube.com/channel/UCvJJ_dzjViJCoLf5uKUTwoA/", "UCvJJ_dzjViJCoLf5uKUTwoA", None),
        ("@CNBC", None, "@CNBC"),
        ("https://www.youtube.com/@CNBC", None, "@CNBC"),
        ("https://m.youtube.com/@CNBC/videos", None, "@CNBC"),
        ("https://www.youtube.com/@%E3%81%82%E3%81%84%E3%81%86", None, "@あいう"),
        (
            "https://www.youtube.com/feeds/videos.xml?channel_id=UCvJJ_dzjViJCoLf5uKUTwoA",
            "UCvJJ_dzjViJCoLf5uKUTwoA",
            None,
        ),
    ],
)
def test_youtube_forms(youtube: str, channel_id: str | None, handle: str | None) -> None:
    channel = ChannelConfig(name="CNBC", youtube=youtube)
    assert channel.youtube_channel_id == channel_id
    assert channel.youtube_handle == handle
    if channel_id:
        assert channel.feed_url == (
            f"https://www.youtube.com/feeds/videos.xml?channel_id={channel_id}"
        )
    else:
        assert channel.feed_url is None


def test_plain_url_channel() -> None:
    channel = ChannelConfig(name="Blog", url="https://simonwillison.net/atom/everything/")
    assert channel.feed_url == "https://simonwillison.net/atom/everything/"
    assert channel.youtube_handle is None and channel.youtube_channel_id is None


def test_config_built_in_code_resolves_against_its_path(tmp_path: Path) -> None:
    config = Config(
        path=tmp_path / "feeds.yaml",
        site=SiteConfig(title="T", base_url="https://example.org", author="A"),
        channels=[ChannelConfig(name="Blog", url="https://example.org/feed")],
    )
    assert config.output == tmp_path / "output"
    assert config.store == f"sqlite:///{tmp_path / 'kanalwerk.db'}"


# --- errors ----------------------------------------------------------------------------------


def test_unknown_key_suggests_close_match(tmp_path: Path) -> None:
    text = MINIMAL + "translator:\n  engien: deepl\n"
    message = error(tmp_path, text)
    line = line_of(text, "engien")
    assert message == f"{tmp_path / 'broken.yaml'}:{line}: translator.engien: unknown key; " + (
        "did you mean 'engine'?"
    )


def test_unknown_key_without_close_match_lists_allowed(tmp_path: Path) -> None:
    text = MINIMAL + "fetch:\n  zzz: 1\n"
    message = error(tmp_path, text)
    assert f"broken.yaml:{line_of(text, 'zzz')}: fetch.zzz: unknown key; allowed keys: " in message
    assert "connect_timeout" in message


def test_bad_type(tmp_path: Path) -> None:
    text = MINIMAL.replace("    url:", "    enabled: maybe\n    url:")
    message = error(tmp_path, text)
    assert f"broken.yaml:{line_of(text, 'maybe')}: channels[0].enabled: found 'maybe'" in message
    assert "expected true or false" in message


def test_yes_as_text_explains_quoting(tmp_path: Path) -> None:
    text = MINIMAL + "translator:\n  source_language: no\n"
    message = error(tmp_path, text)
    assert (
        f":{line_of(text, 'source_language')}: translator.source_language: found false" in message
    )
    assert "quote it" in message


def test_bad_duration_in_second_channel(tmp_path: Path) -> None:
    text = MINIMAL + "  - name: Zweiter\n    url: https://b.example.net/\n    interval: 5x\n"
    message = error(tmp_path, text)
    line = line_of(text, "interval: 5x")
    assert message.endswith(
        f"broken.yaml:{line}: channels[1].interval: '5x' is not a duration; use e.g. 30m, 1h, 90s"
    )


def test_interval_minimum(tmp_path: Path) -> None:
    text = MINIMAL + "schedule:\n  interval: 30s\n"
    message = error(tmp_path, text)
    assert f":{line_of(text, '30s')}: schedule.interval: 30s is too short" in message


def test_bad_size(tmp_path: Path) -> None:
    text = MINIMAL + "fetch:\n  max_bytes: 10XB\n"
    message = error(tmp_path, text)
    assert f":{line_of(text, '10XB')}: fetch.max_bytes: '10XB' is not a size" in message


def test_missing_required_key(tmp_path: Path) -> None:
    text = MINIMAL.replace("  author: Redaktion\n", "")
    message = error(tmp_path, text)
    assert message.endswith(
        f"broken.yaml:{line_of(text, 'site:')}: site.author: required key is missing"
    )


def test_missing_channel_name(tmp_path: Path) -> None:
    text = MINIMAL + "  - url: https://b.example.net/\n"
    message = error(tmp_path, text)
    line = line_of(text, "url: https://b.example.net/")
    assert f"broken.yaml:{line}: channels[1].name: required key is missing" in message
    assert ".id" not in message  # no follow-up noise about the derived id


def test_both_url_and_youtube(tmp_path: Path) -> None:
    text = MINIMAL + "  - name: Doppelt\n    url: https://b.example.net/\n    youtube: '@CNBC'\n"
    message = error(tmp_path, text)
    line = line_of(text, "name: Doppelt")
    assert f"broken.yaml:{line}: channels[1]: has both url: and youtube:" in message


def test_neither_url_nor_youtube(tmp_path: Path) -> None:
    text = MINIMAL + "  - name: Leer\n    language: en\n"
    message = error(tmp_path, text)
    assert f":{line_of(text, 'name: Leer')}: channels[1]: needs url:" in message


def test_bad_youtube_suggests_handle(tmp_path: Path) -> None:
    text = MINIMAL + "  - name: CNBC\n    youtube: CNBC\n"
    message = error(tmp_path, text)
    assert f":{line_of(text, 'youtube: CNBC')}: channels[1].youtube: 'CNBC' is not a YouTube" in (
        message
    )
    assert "did you mean '@CNBC'?" in message


def test_duplicate_channel_id_names_both(tmp_path: Path) -> None:
    text = MINIMAL + "  - name: beispiel!\n    url: https://b.example.net/\n"
    message = error(tmp_path, text)
    line = line_of(text, "name: beispiel!")
    assert f"broken.yaml:{line}: channels[1].id: 'beispiel' is used by both" in message
    assert "'Beispiel'" in message and "'beispiel!'" in message


def test_yaml_syntax_error(tmp_path: Path) -> None:
    text = MINIMAL + "schedule:\n  interval: [30m\n  jitter: 1m\n"
    message = error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'broken.yaml'}:")
    assert "YAML syntax error" in message
    assert f"starts at line {line_of(text, '[30m')}" in message


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    text = MINIMAL.replace("  author: Redaktion", "  author: Redaktion: zwei")
    message = error(tmp_path, text)
    line = line_of(text, "Redaktion: zwei")
    column = text.splitlines()[line - 1].index(": zwei") + 1  # the second colon, 1-based
    assert f"broken.yaml:{line}:{column}: YAML syntax error: mapping values" in message


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = MINIMAL + "output: a/\noutput: b/\n"
    message = error(tmp_path, text)
    assert f":{line_of(text, 'output: b/')}: output: duplicate key (first at line " in message


def test_missing_file_suggests_check(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "fehlt.yaml")
    message = str(info.value)
    assert "fehlt.yaml" in message and "not found" in message
    assert "kanalwerk check --config PATH" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", "the file is empty"), ("# nur Kommentar\n", "the file is empty"), ("- a\n", "mapping")],
)
def test_empty_or_not_a_mapping(tmp_path: Path, text: str, expected: str) -> None:
    message = error(tmp_path, text)
    assert message.startswith(str(tmp_path / "broken.yaml")) and expected in message


def test_no_channels(tmp_path: Path) -> None:
    text = MINIMAL[: MINIMAL.index("channels:")] + "channels: []\n"
    message = error(tmp_path, text)
    assert f":{line_of(text, 'channels')}: channels: is empty" in message


def test_single_budget_errors_point_at_the_written_key(tmp_path: Path) -> None:
    text = MINIMAL + "translator:\n  budget:\n    daily_charcters: 10\n"
    message = error(tmp_path, text)
    line = line_of(text, "daily_charcters")
    assert f":{line}: translator.budget.daily_charcters: unknown key; did you mean " in message


def test_several_problems_one_per_line_in_file_order(tmp_path: Path) -> None:
    text = MINIMAL + "translator:\n  engine: google\nfetch:\n  timeout: soon\n"
    lines = error(tmp_path, text).splitlines()
    assert len(lines) == 2
    assert all(line.startswith(str(tmp_path / "broken.yaml")) for line in lines)
    timeout, engine = line_of(text, "timeout"), line_of(text, "google")
    assert f":{engine}: translator.engine: found 'google'; expected 'local'" in lines[0]
    assert f":{timeout}: fetch.timeout: found 'soon'; expected a number" in lines[1]


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("sqlite:///k.db?timeout=20", "sqlite:///{base}/k.db?timeout=20"),
        ("sqlite+pysqlite:///data/k.db", "sqlite+pysqlite:///{base}/data/k.db"),
        ("SQLite:///k.db", "SQLite:///{base}/k.db"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("sqlite:///file:k.db?mode=ro&uri=true", "sqlite:///file:k.db?mode=ro&uri=true"),
        ("postgresql+psycopg://u:pw@db:5432/k", "postgresql+psycopg://u:pw@db:5432/k"),
    ],
)
@pytest.mark.usefixtures("postgres_drivers")
def test_store_urls(tmp_path: Path, store: str, expected: str) -> None:
    config = load_config(write(tmp_path, MINIMAL + f"store: '{store}'\n"))
    assert config.store == expected.format(base=tmp_path.resolve())


@pytest.mark.parametrize("store", ["kanalwerk.db", "sqlite:/k.db", "://k.db", "postgresql://h:x/d"])
def test_store_url_errors(tmp_path: Path, store: str) -> None:
    text = MINIMAL + f"store: '{store}'\n"
    assert f":{line_of(text, 'store')}: store: is not a database URL" in error(tmp_path, text)


@pytest.mark.parametrize(
    ("store", "said"),
    [
        ("mysql://u@db.example.net/k", "mysql is not a store kanalwerk can use"),
        ("mssql+pyodbc://u:geheim@db/k", "mssql is not a store kanalwerk can use"),
        ("sqlite+aiosqlite:///k.db", "sqlite+aiosqlite is not a driver kanalwerk can use"),
        ("postgresql+asyncpg://u@db/k", "postgresql+asyncpg is not a driver kanalwerk can use"),
        (
            "postgresql+psycopg2://u:geheim@db/k",
            "its driver psycopg2 is not installed; install psycopg2-binary",
        ),
        ("postgresql+pg8000://u@db/k", "its driver pg8000 is not installed; install pg8000"),
    ],
)
def test_check_refuses_a_store_run_cannot_open(tmp_path: Path, store: str, said: str) -> None:
    """Every value `check` accepts is one `run` can use."""
    text = MINIMAL + f"store: '{store}'\n"
    result = run_cli(write(tmp_path, text), "check")
    assert result.returncode == 1
    assert f"feeds.yaml:{line_of(text, 'store')}: store: {said}" in result.stderr
    assert "geheim" not in result.stderr


def test_a_postgresql_url_without_driver_names_the_driver_sqlalchemy_loads(
    tmp_path: Path,
) -> None:
    """SQLAlchemy 2.1 loads psycopg (3) for postgresql://, 2.0 psycopg2."""
    import sqlalchemy as sa

    driver = sa.engine.make_url("postgresql://").get_dialect().driver
    package = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary"}[driver]
    text = MINIMAL + "store: 'postgresql://u@db/k'\n"
    result = run_cli(write(tmp_path, text), "check")
    assert result.returncode == 1
    said = f"store: its driver {driver} is not installed; install {package}"
    assert f"feeds.yaml:{line_of(text, 'store')}: {said}" in result.stderr


def test_reading_the_config_needs_no_database_library() -> None:
    code = (
        "import sys, kanalwerk.config; print(sorted(m for m in sys.modules if 'sqlalchemy' in m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_store_password_never_echoed(tmp_path: Path) -> None:
    text = MINIMAL + "store: 'postgresql://u:geheim@host:port/db'\n"
    message = error(tmp_path, text)
    assert f":{line_of(text, 'store')}: store: is not a database URL" in message
    assert "geheim" not in message


def test_path_is_not_a_yaml_key(tmp_path: Path) -> None:
    text = MINIMAL + "path: /anderswo.yaml\n"
    assert f":{line_of(text, 'path:')}: path: unknown key" in error(tmp_path, text)


def test_budget_for_unknown_engine(tmp_path: Path) -> None:
    text = MINIMAL + "translator:\n  budget:\n    openai: {daily_tokens: 1}\n    google: {}\n"
    message = error(tmp_path, text)
    assert f":{line_of(text, 'google')}: translator.budget.google: 'google' is not an engine" in (
        message
    )
