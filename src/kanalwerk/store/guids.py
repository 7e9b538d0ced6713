"""Items stored before guids were kept as given get their own guid back.

Before schema version 2 a relative `<guid>12345</guid>` was stored resolved against the
URL the feed was fetched from. Now the parser keeps `12345`, so without this the first
poll after the upgrade (or after the feed moved) would store every such item again, and
it would be translated and published a second time. Migration 2 recorded each channel's
URLs and its last item then; an incoming guid that, resolved against one of them (or
against the item's own base), names one of those old items takes that item over.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urljoin

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kanalwerk.models import Item
from kanalwerk.store import schema as db


def adopt_resolved_guids(conn: Connection, channel_id: str, items: Mapping[str, Item]) -> None:
    """Rename old items whose stored guid is the resolved form of an incoming guid."""
    bases = conn.execute(
        sa.select(db.resolved_guid_bases.c.base_url, db.resolved_guid_bases.c.last_item_id).where(
            db.resolved_guid_bases.c.channel_id == channel_id
        )
    ).all()
    if not bases:
        return  # a channel added after the upgrade never stored a resolved guid
    last_item_id = max(row.last_item_id for row in bases)
    resolved_to_raw: dict[str, str] = {}
    for guid, item in items.items():
        for base in dict.fromkeys([*(row.base_url for row in bases), item.base_url]):
            resolved = _resolve(base, guid)
            if resolved is not None and resolved != guid:
                resolved_to_raw.setdefault(resolved, guid)
    if not resolved_to_raw:
        return
    c = db.items.c
    taken = set(
        conn.execute(
            sa.select(c.guid).where(
                c.channel_id == channel_id, c.guid.in_(list(set(resolved_to_raw.values())))
            )
        ).scalars()
    )
    old = conn.execute(
        sa.select(c.id, c.guid)
        .where(
            c.channel_id == channel_id,
            c.guid.in_(list(resolved_to_raw)),
            c.id <= last_item_id,
        )
        .order_by(c.id)
    ).all()
    for row in old:
        raw = resolved_to_raw[row.guid]
        if raw in taken:
            continue  # the first (oldest) match already took it; a duplicate stays as is
        conn.execute(sa.update(db.items).where(c.id == row.id).values(guid=raw))
        taken.add(raw)


def _resolve(base: str | None, guid: str) -> str | None:
    """`guid` resolved against `base` the way earlier versions stored it."""
    if not base:
        return None
    try:
        return urljoin(base, guid)
    except ValueError:
        return None
