from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from kanalwerk.config import OpenAIConfig
from kanalwerk.errors import ArticleInvalid, Blame, TranslationError
from kanalwerk.models import Usage
from kanalwerk.store import Store
from kanalwerk.translate.article.base import ArticleRequest, cost_usd
from kanalwerk.translate.article.prompt import source_text
from kanalwerk.translate.article.validate import validate_article
from kanalwerk.translate.article.writer import OpenAIArticleWriter
from kanalwerk.translate.cache import StoreCache
from tests.fake_openai import FakeOpenAI, Fault, default_article
from tests.servers import LocalServer

KEY = "sk-test-0123456789"

SOURCE_HTML = (
    "<p>DeepSeek, a Chinese research lab, released a free open-source model that rivals "
    'the best from OpenAI. Read <a href="https://example.org/deepseek-v3/">the paper</a> '
    "for details.</p>"
    "<ul><li>Training cost: $5.6 million</li><li>Inference: 10 cents per million tokens</li></ul>"
    "<p>More at https://example.com/notes.</p>"
)

GERMAN = {
    "title": "„DeepSeek fordert OpenAI heraus“",
    "teaser": "Ein chinesisches Labor hat ein kostenloses Modell vorgestellt.",
    "body_html": (
        "<h2>Was das Modell besonders macht</h2>"
        '<p>Laut <a href="https://example.org/deepseek-v3" onclick="steal()">dem '
        "Fachartikel</a> kostete das Training nur 5,6 Millionen Dollar.<br></p>"
        "<ul><li>Die Nutzung kostet etwa 10 Cent pro Million Tokens.</li></ul>"
        "<p>Weitere Hinweise stehen in den "
        '<a href="https://example.com/notes/">Notizen</a> der Entwickler.</p>'
    ),
}

ENGLISH = {
    "title": "DeepSeek challenges OpenAI",
    "teaser": "A Chinese lab has released a free model that rivals the best from OpenAI.",
    "body_html": (
        "<h2>What makes the model special</h2>"
        "<p>According to the developers, training cost only 5.6 million dollars and the "
        "model can be used and adapted freely by anyone who wants to.</p>"
    ),
}


def article(**changes: Any) -> dict[str, Any]:
    return {**GERMAN, **changes}


def req(**changes: Any) -> ArticleRequest:
    fields: dict[str, Any] = {
        "title": "How China's New AI Model DeepSeek Is Threatening U.S. Dominance",
        "source_html": SOURCE_HTML,
        "source_lang": "en",
        "channel_name": "CNBC",
        "link": "https://www.youtube.com/watch?v=WEBiebbeNCA",
        "is_video": True,
        "glossary": (("DeepSeek", "DeepSeek"),),
    }
    fields.update(changes)
    return ArticleRequest(**fields)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fake(server: LocalServer) -> FakeOpenAI:
    return FakeOpenAI(server, api_key=KEY)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def writer(fake: FakeOpenAI, sleeps: Sleeps) -> Iterator[OpenAIArticleWriter]:
    w = OpenAIArticleWriter(
        OpenAIConfig(base_url=fake.base_url, model="deepseek-chat"), api_key=KEY, sleep=sleeps
    )
    yield w
    w.close()


def test_valid_article_is_accepted_and_sanitized(
    fake: FakeOpenAI, writer: OpenAIArticleWriter
) -> None:
    fake.answer_articles(GERMAN)
    result = writer.write(req())

    assert result.title == "DeepSeek fordert OpenAI heraus"  # wrapping quotes dropped
    assert result.teaser == GERMAN["teaser"]
    assert "onclick" not in result.body_html
    assert 'rel="noopener noreferrer nofollow"' in result.body_html
    assert '<a href="https://example.org/deepseek-v3"' in result.body_html
    assert result.body_html.startswith("<h2>Was das Modell besonders macht</h2>")
    assert (result.engine, result.model) == ("openai", "deepseek-chat")

    body = fake.last_body
    assert body["model"] == "deepseek-chat"
    assert body["temperature"] == 0.4
    assert body["response_format"] == {"type": "json_object"}
    assert "max_tokens" not in body
    system, user = body["messages"]
    assert (system["role"], user["role"]) == ("system", "user")
    assert "ein Video des Kanals „CNBC“" in system["content"]
    assert "„How China's New AI Model DeepSeek Is Threatening U.S. Dominance“" in system["content"]
    assert "- DeepSeek → DeepSeek" in system["content"]
    assert '"body_html"' in system["content"] and "<blockquote>" in system["content"]
    source = source_text(SOURCE_HTML)
    assert source in user["content"]
    assert "Read the paper (https://example.org/deepseek-v3/) for details." in source
    assert "- Training cost: $5.6 million" in source
    assert "Sprache der Vorlage: Englisch" in user["content"]
    assert fake.headers[-1]["authorization"] == f"Bearer {KEY}"
    assert result.usage == Usage(
        requests=1,
        characters=len(source),
        prompt_tokens=fake.usage_total["prompt_tokens"],
        completion_tokens=fake.usage_total["completion_tokens"],
    )


def test_fake_default_article_passes_and_posts_say_beitrag(
    fake: FakeOpenAI, writer: OpenAIArticleWriter
) -> None:
    result = writer.write(req(is_video=False, source_lang="auto", glossary=()))
    assert result.title == default_article({})["title"]
    system, user = fake.last_body["messages"]
    assert "ein Beitrag des Kanals" in system["content"]
    assert "Glossar" not in system["content"]
    assert "Sprache der Vorlage" not in user["content"]
    assert "Inhalt des Beitrags" in user["content"]


def test_disallowed_tag_is_sent_back_with_the_reason_then_accepted(
    fake: FakeOpenAI, writer: OpenAIArticleWriter
) -> None:
    bad = article(body_html="<div><p>Das Modell ist kostenlos und quelloffen verfügbar.</p></div>")
    fake.answer_articles(bad, GERMAN)
    result = writer.write(req())

    assert result.title == "DeepSeek fordert OpenAI heraus"
    assert fake.requests == 2
    first, second = fake.messages(0), fake.messages(1)
    assert len(second) == 4
    assert second[:2] == first
    assert second[2] == {"role": "assistant", "content": json.dumps(bad, ensure_ascii=False)}
    assert second[3]["role"] == "user"
    assert "<div>" in second[3]["content"] and "not allowed" in second[3]["content"]
    assert "JSON" in second[3]["content"]
    assert result.usage.requests == 2
    assert result.usage.characters == 2 * len(source_text(SOURCE_HTML))
    assert result.usage.prompt_tokens == fake.usage_total["prompt_tokens"]
    assert result.usage.completion_tokens == fake.usage_total["completion_tokens"]


def test_english_answer_is_rejected_then_german_accepted(
    fake: FakeOpenAI, writer: OpenAIArticleWriter
) -> None:
    fake.answer_articles(ENGLISH, GERMAN)
    assert writer.write(req()).teaser == GERMAN["teaser"]
    assert "not in German (detected language: en)" in fake.messages(1)[-1]["content"]


def test_not_json_then_valid(fake: FakeOpenAI, writer: OpenAIArticleWriter) -> None:
    fake.fail_next(Fault.not_json())
    fake.answer_articles(GERMAN, GERMAN)
    assert writer.write(req()).title == "DeepSeek fordert OpenAI heraus"
    assert "the answer is not JSON" in fake.messages(1)[-1]["content"]


def test_fenced_answer_is_accepted(fake: FakeOpenAI, writer: OpenAIArticleWriter) -> None:
    fake.fail_next(Fault.fenced())
    fake.answer_articles(GERMAN)
    assert writer.write(req()).teaser == GERMAN["teaser"]
    assert fake.requests == 1


def test_second_invalid_answer_is_the_items_fault(
    fake: FakeOpenAI, writer: OpenAIArticleWriter
) -> None:
    invented = article(
        body_html='<p>Mehr dazu steht <a href="https://evil.example/x">hier</a> im Netz.</p>'
    )
    fake.answer_articles(invented, invented)
    with pytest.raises(ArticleInvalid) as caught:
        writer.write(req())
    error = caught.value
    assert isinstance(error, TranslationError)
    assert error.blame is Blame.ITEM
    assert "invented link" in error.reason
    assert "https://evil.example/x" in str(error)
    assert "after 2 attempts" in str(error)
    assert fake.requests == 2
    tokens = fake.usage_total["prompt_tokens"] + fake.usage_total["completion_tokens"]
    assert error.spent == f"2 request(s), {tokens} tokens"


def test_truncated_answer_is_invalid_at_once(fake: FakeOpenAI, writer: OpenAIArticleWriter) -> None:
    fake.fail_next(Fault.truncated())
    with pytest.raises(ArticleInvalid) as caught:
        writer.write(req())
    assert caught.value.blame is Blame.ITEM
    assert "answer truncated; raise max tokens or shorten the source" in str(caught.value)
    assert fake.requests == 1
    assert caught.value.spent.startswith("1 request(s), ")


def test_context_exceeded_is_invalid(fake: FakeOpenAI, writer: OpenAIArticleWriter) -> None:
    fake.fail_next(
        Fault.http(400, "maximum context length exceeded", code="context_length_exceeded")
    )
    with pytest.raises(ArticleInvalid, match="lower max_source_chars"):
        writer.write(req())
    assert fake.requests == 1


def test_max_tokens_is_sent_when_configured(fake: FakeOpenAI, sleeps: Sleeps) -> None:
    w = OpenAIArticleWriter(
        OpenAIConfig(base_url=fake.base_url, model="m", article_max_tokens=4096),
        api_key=KEY,
        sleep=sleeps,
    )
    try:
        w.write(req())
    finally:
        w.close()
    assert fake.last_body["max_tokens"] == 4096


def test_401_is_final_and_never_shows_the_key(
    fake: FakeOpenAI, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "sk-wrong-key-abcdef123456"
    monkeypatch.setenv("KANALWERK_ARTICLE_KEY", wrong)
    w = OpenAIArticleWriter.from_config(
        OpenAIConfig(api_key_env="KANALWERK_ARTICLE_KEY", base_url=fake.base_url, model="m"),
        sleep=sleeps,
    )
    try:
        with pytest.raises(TranslationError) as caught:
            w.write(req())
    finally:
        w.close()
    assert not isinstance(caught.value, ArticleInvalid)
    assert caught.value.blame is Blame.ENGINE
    assert caught.value.status == 401
    assert "$KANALWERK_ARTICLE_KEY" in str(caught.value)
    assert wrong not in str(caught.value) and "abcdef123456" not in str(caught.value)
    assert fake.requests == 1
    assert sleeps == []


def test_from_env_names_a_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KANALWERK_MISSING_ARTICLE_KEY", raising=False)
    with pytest.raises(TranslationError, match="KANALWERK_MISSING_ARTICLE_KEY") as caught:
        OpenAIArticleWriter.from_config(
            OpenAIConfig(
                api_key_env="KANALWERK_MISSING_ARTICLE_KEY",
                base_url="http://127.0.0.1:9",
                model="m",
            )
        )
    assert caught.value.blame is Blame.ENGINE


def test_429_then_success_honours_retry_after(
    fake: FakeOpenAI, writer: OpenAIArticleWriter, sleeps: Sleeps
) -> None:
    fake.fail_next(Fault.rate_limited(retry_after="0"))
    fake.answer_articles(GERMAN)
    result = writer.write(req())
    assert result.teaser == GERMAN["teaser"]
    assert sleeps == [0.0]
    assert fake.requests == 2
    assert result.usage.requests == 1


def test_402_is_final(fake: FakeOpenAI, writer: OpenAIArticleWriter) -> None:
    fake.fail_next(Fault.http(402, "Insufficient Balance", error_type="unknown_error"))
    with pytest.raises(TranslationError, match="insufficient balance") as caught:
        writer.write(req())
    assert caught.value.blame is Blame.ENGINE


def test_cache_hit_makes_no_request(
    fake: FakeOpenAI, sleeps: Sleeps, store: Store, tmp_path: Path
) -> None:
    cache = StoreCache(store)

    def make(template: str | None = None) -> OpenAIArticleWriter:
        return OpenAIArticleWriter(
            OpenAIConfig(base_url=fake.base_url, model="deepseek-chat", article_prompt=template),
            api_key=KEY,
            cache=cache,
            sleep=sleeps,
        )

    fake.answer_articles(GERMAN)
    first_writer = make()
    try:
        first = first_writer.write(req())
    finally:
        first_writer.close()
    assert fake.requests == 1
    with closing(sqlite3.connect(tmp_path / "k.db")) as db:
        query = "SELECT engine, model, source_lang, target_lang, fmt FROM translation_cache"
        rows = list(db.execute(query))
    [(engine, model, source, target, fmt)] = rows
    assert (engine, model, source, target, fmt) == (
        "openai",
        "deepseek-chat",
        "en",
        "de",
        "article",
    )

    again_writer = make()
    try:
        again = again_writer.write(req())
        assert fake.requests == 1
        assert (again.title, again.teaser, again.body_html) == (
            first.title,
            first.teaser,
            first.body_html,
        )
        assert again.usage == Usage()

        again_writer.write(req(source_html=SOURCE_HTML + "<p>Update.</p>"))
        assert fake.requests == 2  # different source, different key
    finally:
        again_writer.close()

    other_prompt = make("Schreib über {title}. JSON bitte.")
    try:
        other_prompt.write(req())
    finally:
        other_prompt.close()
    assert fake.requests == 3  # the prompt is part of the key


def test_custom_prompt_template_placeholders_are_filled(fake: FakeOpenAI, sleeps: Sleeps) -> None:
    template = "Kanal {channel}; Titel {title}; ein {kind}.{glossary} Literal {braces} bleiben."
    w = OpenAIArticleWriter(
        OpenAIConfig(base_url=fake.base_url, model="m", article_prompt=template),
        api_key=KEY,
        sleep=sleeps,
    )
    try:
        w.write(
            req(
                channel_name="Simon {title} Willison",
                title="A post",
                is_video=False,
                glossary=(("agent", "Agent"),),
            )
        )
    finally:
        w.close()
    system = fake.last_body["messages"][0]["content"]
    assert system.startswith("Kanal Simon {title} Willison; Titel A post; ein Beitrag.")
    assert "- agent → Agent" in system
    assert "Literal {braces} bleiben." in system
    assert '{"title": "…", "teaser": "…", "body_html": "…"}' in system  # contract kept


def test_source_text_is_the_visible_text() -> None:
    html = (
        "<h2>Intro</h2><p>See <a href='https://a.example/x'>https://a.example/x</a> and "
        "<a href='https://b.example/'>this <em>page</em></a>.<br>Next line</p>"
        "<script>alert(1)</script><ol><li>one</li><li>two</li></ol>"
    )
    text = source_text(html)
    for visible in (
        "Intro",
        "See https://a.example/x and this page (https://b.example/).",
        "Next line",
        "- one",
        "- two",
    ):
        assert visible in text
    assert "alert" not in text and "<" not in text


def test_the_model_is_shown_the_sources_link_urls(
    fake: FakeOpenAI, writer: OpenAIArticleWriter
) -> None:
    """Only URLs of the source may be linked, so the model must see them with their text."""
    writer.write(req())

    user = fake.last_body["messages"][1]["content"]
    assert "Read the paper (https://example.org/deepseek-v3/) for details." in user
    assert "- Training cost: $5.6 million\n\n- Inference: 10 cents per million tokens" in user


# -- validate_article ---------------------------------------------------------------------


def test_validate_accepts_source_links_ignoring_trailing_slashes() -> None:
    title, teaser, body = validate_article(GERMAN, source_html=SOURCE_HTML)
    assert title == "DeepSeek fordert OpenAI heraus"
    assert teaser == GERMAN["teaser"]
    assert body.count("<a ") == 2
    assert "<br>" in body  # tolerated


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (["not", "an", "object"], "not a JSON object"),
        ({k: v for k, v in GERMAN.items() if k != "teaser"}, 'no "teaser" field'),
        (article(title=42), '"title" field is not a string'),
        (article(body_html="   "), '"body_html" field is empty'),
        (article(title="Ü" * 201), "at most 200"),
        (article(title="<b>DeepSeek</b> fordert OpenAI heraus"), "title contains HTML tags"),
        (article(teaser="Ein <em>kostenloses</em> Modell."), "teaser contains HTML tags"),
        (article(teaser="Satz. " * 200), "1–3 sentences"),
        (article(body_html="<h2>Nur eine Überschrift</h2>"), "no <p> paragraph"),
        (article(body_html="<h1>Kopf</h1><p>Text des Artikels.</p>"), "<h1>"),
        (article(body_html="<p>Text</p><script>x()</script>"), "<script>"),
        (article(body_html="<p><a>ohne Ziel</a> Text</p>"), "<a> without href"),
        (article(body_html='<p><a href="https://example.org/other">x</a></p>'), "invented link"),
        (article(body_html='<p><a href="/deepseek-v3/">relativ</a></p>'), "invented link"),
        (
            article(body_html="<h2>DeepSeek fordert OpenAI heraus</h2><p>Der Artikel.</p>"),
            "repeats the headline",
        ),
        (
            article(body_html="<p>Text.</p><p>Hinweis zur Quelle: automatisch erstellt.</p>"),
            "source note",
        ),
        (ENGLISH, "not in German"),
        (article(body_html="<h2>Kosten</h2><h2>Leistung</h2><p>Gut.</p>"), "„Kosten“ is empty"),
        (article(body_html="<p>Text.</p><h2>Ende</h2>"), "„Ende“ is empty"),
        (article(body_html="<p>Text.</p><h2> </h2><p>Mehr.</p>"), "empty <h2> heading"),
        (
            article(body_html="<p>Text.</p><h2>Kosten</h2><h3>Teil</h3>"),
            "„Kosten“ is empty",
        ),
        (
            article(body_html=f"<p>{'Ein langer deutscher Satz ohne Gliederung. ' * 40}</p>"),
            "no <h2>",
        ),
        (
            article(
                body_html=GERMAN["body_html"]
                + "<h2>Und was das bedeutet</h2><p>The model beats GPT-4 on many benchmarks "
                "and costs only 5.6 million dollars to train, the developers say in their "
                "paper, which was published on Monday together with the weights.</p>"
            ),
            "„Und was das bedeutet“ is not in German (detected language: en)",
        ),
    ],
)
def test_validate_rejects_with_a_precise_reason(data: object, reason: str) -> None:
    with pytest.raises(ArticleInvalid) as caught:
        validate_article(data, source_html=SOURCE_HTML)
    assert reason in caught.value.reason
    assert caught.value.blame is Blame.ITEM


def test_validate_lists_every_disallowed_tag() -> None:
    body = "<div><p>Text <span>mit</span> <b>Fett</b>.</p></div>"
    with pytest.raises(ArticleInvalid) as caught:
        validate_article(article(body_html=body), source_html=SOURCE_HTML)
    assert "<div>, <span>, <b>" in caught.value.reason


def test_validate_accepts_undetectable_language_of_short_texts() -> None:
    short = {"title": "DeepSeek V3", "teaser": "Kurz.", "body_html": "<p>OpenAI, Llama.</p>"}
    assert validate_article(short, source_html="")[0] == "DeepSeek V3"


def test_cost_usd() -> None:
    usage = Usage(requests=2, characters=10, prompt_tokens=1_000_000, completion_tokens=500_000)
    assert cost_usd(usage, 0.27, 1.10) == pytest.approx(0.27 + 0.55)
    assert cost_usd(usage, None, 2.0) == pytest.approx(1.0)
    assert cost_usd(usage, 0.5, None) == pytest.approx(0.5)
    assert cost_usd(usage, None, None) is None
    assert cost_usd(Usage(), 1.0, 1.0) == 0.0
