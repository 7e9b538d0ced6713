"""The pages of unpublished articles: a short notice at the same URL, so links don't break.

An unpublished article leaves the feeds and lists (the library no longer has it as an
entry); its page stays as "Dieser Beitrag wurde entfernt.", kept out of search engines.
The notice names nothing of the article, whose content may be why it went.
"""

from __future__ import annotations

from kanalwerk.publish.pages import Library, Page, layout_key, page_key
from kanalwerk.publish.site import article_path, render_removed


def removed_pages(library: Library) -> list[Page]:
    """One notice page per removed slug; its bytes change only with the layout."""
    site = library.site
    key = page_key("removed", layout_key(site))

    def page(slug: str) -> Page:
        return Page(article_path(slug), key, lambda _bodies: render_removed(slug, site))

    return [page(slug) for slug in library.removed]
