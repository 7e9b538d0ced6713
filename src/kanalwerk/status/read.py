"""What `kanalwerk status` reads: the store's view of channels and engines, never written.

`status` runs beside a daemon and without the run lock, so nothing here builds a
`Pipeline`, writes the store or migrates it; the pipeline asks `plan_polls` too, so the
daemon and status agree on each channel's next poll.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Literal

from kanalwerk import schedule
from kanalwerk.config import Config
from kanalwerk.errors import KanalwerkError, NoStoreYet, StoreNeedsMigration
from kanalwerk.health import health_path, read_health
from kanalwerk.models import Usage
from kanalwerk.status.report import (
    ChannelView,
    DeepLAccount,
    EngineStatus,
    HandleLookup,
    StoreView,
    disabled_reason,
    handle_lookups,
    next_poll,
    pending_reasons,
    waiting,
)
from kanalwerk.status.report import Report as StatusReport
from kanalwerk.store import ChannelStatus, Store
from kanalwerk.store.store import mask_url
from kanalwerk.translate.article.base import cost_usd
from kanalwerk.translate.chain import Suspension, Suspensions
from kanalwerk.translate.factory import translator_settings, user_agent
from kanalwerk.translate.keys import key_from_env


def plan_polls(
    config: Config, store: Store, now: datetime, only: Collection[str] | None = None
) -> dict[str, schedule.NextPoll]:
    """Each enabled channel's (or those in `only`) next poll from the store; reads only."""
    enabled = [c for c in config.channels if c.enabled and (only is None or c.id in only)]
    histories = store.poll_histories([c.id for c in enabled], now)
    return {
        c.id: schedule.next_poll(
            histories.get(c.id, schedule.PollHistory()), config.cadence(c), now
        )
        for c in enabled
    }


def read_status(config: Config, now: datetime, *, account: bool = True) -> StatusReport:
    """The store's view of the channels and engines, without writing to it or creating it.

    `status` runs beside a daemon and without the run lock, so it builds no `Pipeline`
    (whose `reconfigure` writes the channel table) and migrates nothing: channels in the
    config that the store does not know yet are shown as never fetched, and a store
    whose schema is older is reported as such. `account`: ask DeepL for its own count.
    """
    stored: list[ChannelStatus] = []
    counts: dict[str, dict[str, int]] = {}
    lookups: dict[str, HandleLookup] = {}
    plans: dict[str, schedule.NextPoll] = {}
    last_waiting = None
    usage = Usage()
    resting: Mapping[str, Suspension] = {}
    used_today: Callable[[str], Usage] = lambda name: Usage()  # noqa: E731
    store_view = StoreView(mask_url(config.store), "ok")
    try:
        store = Store.open(config.store, create=False, migrate=False)
    except NoStoreYet:  # nothing run yet: every channel never fetched, nothing used
        store_view = StoreView(store_view.url, "missing", "no store yet: nothing has run")
        engines = _engine_statuses(config, used_today, resting)
    except StoreNeedsMigration as exc:
        store_view = StoreView(store_view.url, "needs-migration", str(exc))
        engines = _engine_statuses(config, used_today, resting)
    else:
        with store:
            stored = store.channel_statuses()
            plans = plan_polls(config, store, now)
            counts = store.item_counts()
            lookups = handle_lookups(store)
            last_waiting = waiting(store)
            usage = store.usage_for(now.date())
            # Without the pauses a settings edit lifted: status shows what the next run does.
            resting = Suspensions(
                store, clock=lambda: now, settings=translator_settings(config)
            ).active()
            engines = _engine_statuses(
                config, lambda name: store.usage_for(now.date(), name), resting
            )
    by_id = {row.id: row for row in stored}
    views = []
    for channel in config.channels:
        row = by_id.get(channel.id) or ChannelStatus(
            channel.id, channel.name, config.poll_url(channel), *(None,) * 5, 0, 0, 0, 0, 0
        )
        lookup = lookups.get(channel.id) if row.url is None else None
        views.append(
            ChannelView(
                row,
                channel.enabled,
                counts.get(channel.id, {}),
                next_poll(plans.get(channel.id), row) if channel.enabled else None,
                lookup,
                disabled_reason(row),
            )
        )
    views.sort(key=lambda view: (view.row.name, view.row.id))
    pending_items = sum(view.items.get("new", 0) for view in views)
    return StatusReport(
        generated_at=now,
        config=str(config.path),
        store=store_view,
        channels=tuple(views),
        usage=usage,
        engines=engines,
        pending_items=pending_items,
        pending=pending_reasons(last_waiting, engines, pending_items),
        handle_lookups=tuple(v.handle_lookup for v in views if v.handle_lookup is not None),
        health=read_health(health_path(config)),
        deepl=_deepl_account(config) if account else None,
    )


def _engine_statuses(
    config: Config, usage_today: Callable[[str], Usage], suspensions: Mapping[str, Suspension]
) -> tuple[EngineStatus, ...]:
    """The chain's engines, the article writer's openai, then any other suspended engine.

    In article mode the writer's usage is recorded under "openai", so openai is listed
    even when it is not in the translation chain.
    """
    tc = config.translator
    chain = tc.engines
    writer = ["openai"] if tc.mode == "article" and "openai" not in chain else []
    configured = [*chain, *writer]
    engines: list[EngineStatus] = []
    for name in [*configured, *(n for n in suspensions if n not in configured)]:
        used = usage_today(name)
        budget = tc.budget_for(name)
        cost = None
        if name == "openai":
            o = tc.openai
            cost = cost_usd(used, o.price_per_million_input, o.price_per_million_output)
        role: Literal["configured", "article", "former"] = (
            "article" if name in writer else "configured" if name in configured else "former"
        )
        engines.append(
            EngineStatus(
                name,
                role,
                used,
                budget.daily_characters,
                budget.daily_tokens,
                cost,
                suspensions.get(name),
            )
        )
    return tuple(engines)


def _deepl_account(config: Config) -> DeepLAccount | None:
    """DeepL's count for the billing period when DeepL is configured with a key; never raises.

    The client is imported here, as the engine factory does: only `status` asks for it.
    """
    from kanalwerk.translate.deepl import DeepLTranslator

    deepl = config.translator.deepl
    if "deepl" not in config.translator.engines:
        return None
    if key_from_env(deepl.api_key_env) is None:
        return None
    try:
        quick = deepl.model_copy(update={"timeout": 10.0, "max_retries": 0})  # status must not hang
        with DeepLTranslator.from_config(quick, user_agent=user_agent(config)) as client:
            return DeepLAccount(client.usage())
    except KanalwerkError as exc:
        return DeepLAccount(None, str(exc))
