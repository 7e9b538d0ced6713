"""Items stored before guids were kept as given get their own guid back.

Before schema version 2 a relative `<guid>12345</guid>` (and, for an item without a
guid, a relative `<link>`) was stored resolved against the URL the feed was fetched
from. Now the parser keeps `12345`, so without this the first poll after the upgrade
(or after the feed moved) would store every such item again, and it would be translated
and published a second time. Migration 2 recorded each channel's URLs and its last item
then; an incoming guid that, resolved against one of them (or against the item's own
base), names one of those old items takes that item over. The target of a temporary
redirect was never recorded, so an old guid that resolving the incoming one against
some other URL of any http(s) site gives (`https://cdn.example/b/12345` for `12345`)
is taken over too: the channel's oldest such item.

The first poll that brings items does all the adopting there is to do, since every
item in the feed is stored under its guid as given afterwards: the channel's recorded
URLs are deleted then, and later polls skip the lookups. (An old item that had left
the feed and comes back later is stored again; feeds rarely bring old items back.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urljoin, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kanalwerk.models import Item
from kanalwerk.store import schema as db
from kanalwerk.store.chunks import chunks

_HTTP = ("http://", "https://")


def channels_to_adopt(conn: Connection) -> set[str]:
    """Channels whose URLs migration 2 recorded and no poll has used yet."""
    bases = db.resolved_guid_bases
    return set(conn.execute(sa.select(bases.c.channel_id).distinct()).scalars())


def adopt_resolved_guids(conn: Connection, channel_id: str, items: Mapping[str, Item]) -> None:
    """Rename old items whose stored guid is the resolved form of an incoming guid."""
    bases = db.resolved_guid_bases
    rows = conn.execute(
        sa.select(bases.c.base_url, bases.c.last_item_id).where(bases.c.channel_id == channel_id)
    ).all()
    if not rows:
        return  # a channel added after the upgrade never stored a resolved guid
    last_item_id = max(row.last_item_id for row in rows)
    base_urls = [row.base_url for row in rows]
    taken = _stored(conn, channel_id, list(items))
    resolved_to_raw: dict[str, str] = {}
    for guid, item in items.items():
        for base in dict.fromkeys([*base_urls, item.base_url]):
            resolved = _resolve(base, guid)
            if resolved is not None and resolved != guid:
                resolved_to_raw.setdefault(resolved, guid)
    c = db.items.c
    old = [
        row
        for chunk in chunks(list(resolved_to_raw))
        for row in conn.execute(
            sa.select(c.id, c.guid).where(
                c.channel_id == channel_id, c.guid.in_(chunk), c.id <= last_item_id
            )
        )
    ]
    for row in sorted(old, key=lambda row: row.id):
        _rename(conn, row.id, resolved_to_raw[row.guid], taken)
    relative = sorted((g for g in items if g not in taken and _is_relative(g)), key=len)[::-1]
    for item_id, stored in _old_guids_ending_in(conn, channel_id, last_item_id, relative):
        raw = next((g for g in relative if g not in taken and _resolves_to(stored, g)), None)
        if raw is not None:
            _rename(conn, item_id, raw, taken)
    conn.execute(sa.delete(bases).where(bases.c.channel_id == channel_id))


def _stored(conn: Connection, channel_id: str, guids: Sequence[str]) -> set[str]:
    c = db.items.c
    return {
        guid
        for chunk in chunks(guids)
        for guid in conn.execute(
            sa.select(c.guid).where(c.channel_id == channel_id, c.guid.in_(chunk))
        ).scalars()
    }


def _rename(conn: Connection, item_id: int, raw: str, taken: set[str]) -> None:
    """The old item takes `raw`, unless an older match or a stored item has it already."""
    if raw in taken:
        return  # a duplicate from an earlier move stays as it is
    conn.execute(sa.update(db.items).where(db.items.c.id == item_id).values(guid=raw))
    taken.add(raw)


def _old_guids_ending_in(
    conn: Connection, channel_id: str, last_item_id: int, relative: Sequence[str]
) -> Iterable[tuple[int, str]]:
    """Old items with an http(s) guid ending in one of `relative`, oldest first."""
    c = db.items.c
    found: dict[int, str] = {}
    for chunk in chunks(relative):
        patterns = [
            c.guid.like(("%" if raw.startswith("/") else "%/") + _like_escaped(raw), escape="\\")
            for raw in chunk
        ]
        query = sa.select(c.id, c.guid).where(
            c.channel_id == channel_id,
            c.id <= last_item_id,
            sa.or_(*(c.guid.like(prefix + "%") for prefix in _HTTP)),
            sa.or_(*patterns),
        )
        found.update((row.id, row.guid) for row in conn.execute(query))
    return sorted(found.items())


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _is_relative(guid: str) -> bool:
    """A relative reference an old version could have resolved: `12345`, `posts/7`."""
    try:
        parts = urlsplit(guid)
    except ValueError:
        return False
    return not parts.scheme and not parts.netloc and bool(parts.path)


def _resolves_to(stored: str, raw: str) -> bool:
    """Whether resolving `raw` against some http(s) URL gives `stored`."""
    if not stored.startswith(_HTTP) or not stored.endswith(raw) or len(stored) == len(raw):
        return False
    base = stored[: len(stored) - len(raw)]
    try:
        has_host = bool(urlsplit(base).netloc)
    except ValueError:
        return False
    return has_host and _resolve(base, raw) == stored


def _resolve(base: str | None, guid: str) -> str | None:
    """`guid` resolved against `base` the way earlier versions stored it."""
    if not base:
        return None
    try:
        return urljoin(base, guid)
    except ValueError:
        return None
