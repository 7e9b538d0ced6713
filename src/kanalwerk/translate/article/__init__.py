"""Article mode: an OpenAI-compatible model writes a German blog article from the original.

Instead of translating segment by segment, the model reads the whole source as text
(transcript or description of a video, the full content of a post) and answers with a
JSON object `{"title", "teaser", "body_html"}`. One module per job: `base` (what is
exchanged, cost), `source` (which text of the item), `prompt` (what the model is asked),
`condense` (long sources as notes, part by part), `validate` (checking the answer),
`cache` (finished articles in the store) and `writer` (the HTTP round trips).
"""

from kanalwerk.translate.article.base import (
    ArticleRequest,
    ArticleWriter,
    WrittenArticle,
    article_engine,
    cost_usd,
    describe_usage,
    describe_written,
)
from kanalwerk.translate.article.writer import OpenAIArticleWriter

__all__ = [
    "ArticleRequest",
    "ArticleWriter",
    "OpenAIArticleWriter",
    "WrittenArticle",
    "article_engine",
    "cost_usd",
    "describe_usage",
    "describe_written",
]
