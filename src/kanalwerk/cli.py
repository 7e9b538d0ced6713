"""The command line: `kanalwerk run`, `check`, `status`, `items`, `publish`, `models`,
and the review commands `pending`, `show`, `approve`, `reject` and `unpublish`.

Each command imports what it needs when it runs: the pipeline pulls in the store,
HTTP clients and config models, which `--help` or a typo should not wait for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from kanalwerk import logs
from kanalwerk.errors import KanalwerkError

if TYPE_CHECKING:
    from kanalwerk.config import ChannelConfig, Config
    from kanalwerk.pipeline import Pipeline
    from kanalwerk.pipeline.reports import CycleReport
    from kanalwerk.publish.serve import Serving
    from kanalwerk.status.report import DeepLAccount, EngineStatus, Report

log = logging.getLogger("kanalwerk")


@dataclass
class _Globals:
    """Options every command takes, before or after its name: `kanalwerk -v run` and
    `kanalwerk run -v` mean the same. Logging follows them as they are parsed."""

    config: Path | None = None
    verbose: int = 0
    quiet: bool = False
    log_format: str = "text"
    handler: logging.Handler | None = None

    def apply(self) -> None:
        if self.handler is not None:
            logs.configure(self.handler, self.log_format)
            _set_levels(self.verbose, self.quiet)


def _globals(ctx: click.Context) -> _Globals:
    return ctx.ensure_object(_Globals)


def _take_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path:
    """A command's --config, else the one given before the command's name, else feeds.yaml."""
    options = _globals(ctx)
    if value is not None:
        options.config = value
    return options.config or Path("feeds.yaml")


def _take_verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:
        options = _globals(ctx)
        options.verbose += value
        options.apply()


def _take_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        options = _globals(ctx)
        options.quiet = True
        options.apply()


def _take_log_format(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        options = _globals(ctx)
        options.log_format = value
        options.apply()


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_take_config,
    help="The feeds.yaml to use (default: ./feeds.yaml); relative paths in it resolve "
    "against its folder.",
)


def _global_options() -> list[click.Option]:
    """-v, -q and --log-format, as every command (and the group) takes them."""
    return [
        click.Option(
            ["-v", "--verbose"],
            count=True,
            expose_value=False,
            callback=_take_verbose,
            help="More detail in the log.",
        ),
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_take_quiet,
            help="Only warnings and errors.",
        ),
        click.Option(
            ["--log-format"],
            type=click.Choice(["text", "json"]),
            expose_value=False,
            callback=_take_log_format,
            help="text (default), or json: one object a line with time, level, channel, "
            "event, outcome and message.",
        ),
    ]


def _levels(verbose: int, quiet: bool) -> dict[str, int]:
    """The level of each logger the CLI sets ("": the root)."""
    return {
        "": logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO),
        # httpx logs every request at INFO; that is noise at our default level.
        "httpx": logging.WARNING,
        "httpcore": logging.INFO,  # its DEBUG is per socket event
        "apscheduler": logging.INFO if verbose else logging.WARNING,
        "uvicorn": logging.INFO if verbose else logging.WARNING,  # -v: one line per request
    }


def _set_levels(verbose: int, quiet: bool) -> None:
    for name, level in _levels(verbose, quiet).items():
        logging.getLogger(name).setLevel(level)


def _setup_logging(options: _Globals) -> Callable[[], None]:
    """Log to this command's stderr; return the function that undoes it.

    Undoing matters when the command runs inside another program (tests drive it in
    process): its handler and levels must not outlive the command.
    """
    before = {name: logging.getLogger(name).level for name in _levels(0, False)}
    options.handler = logs.install(sys.stderr)  # control characters shown escaped
    options.apply()

    def undo() -> None:
        if options.handler is not None:
            logging.getLogger().removeHandler(options.handler)
            options.handler = None
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)

    return undo


class _Commands(click.Group):
    """Commands whose errors reach the user as one line, never as a traceback.

    A deliberate error (`KanalwerkError`) is shown as its message; an unexpected one (a
    bug) is named, and its traceback is logged at debug level, so `-v` shows where.
    """

    group_class = type  # subgroups (`models`) are such groups too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Every command takes the global options too, wherever they are written."""
        have = {opt for param in cmd.params for opt in getattr(param, "opts", ())}
        cmd.params += [o for o in _global_options() if not set(o.opts) & have]
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.Abort, click.exceptions.Exit):
            raise
        except KanalwerkError as exc:
            # Messages quote feeds and pages: no terminal escape of theirs gets through.
            raise click.ClickException(logs.printable_lines(str(exc))) from exc
        except Exception as exc:
            log.debug("unexpected error", exc_info=True)
            raise click.ClickException(
                logs.printable(f"unexpected error: {type(exc).__name__}: {exc}")
                + " (run with -v to see where it happened, and please report it)"
            ) from exc


def _load(config_path: Path) -> Config:
    from kanalwerk.config import load_config

    return load_config(config_path)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kanalwerk", prog_name="kanalwerk")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    expose_value=False,
    callback=_take_config,
    help="The feeds.yaml to use (default: feeds.yaml); also taken after the command.",
)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Turn chosen channels' feeds into a German-language blog with an Atom feed.

    -v, -q, --log-format and --config may be written before or after the command.
    """
    ctx.call_on_close(_setup_logging(_globals(ctx)))


main.params += _global_options()


#: `run --once` exit statuses, for cron (README: "Exit codes").
EXIT_OK, EXIT_FAILED, EXIT_SOME_CHANNELS_FAILED, EXIT_ITEMS_WAIT = 0, 1, 3, 4


@main.command(
    epilog="Exit status of --once: 0 all fine; 1 no channel could be fetched or publishing "
    "failed (or another error); 3 some channels failed; 4 items wait because no engine "
    "could translate them. The first that applies, in this order."
)
@config_option
@click.option("--once", is_flag=True, help="Do one full cycle (poll, translate, publish) and exit.")
@click.option("--serve", is_flag=True, help="Also serve the output folder, as `serve` does.")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: address.")
@click.option("--port", default=8080, show_default=True, help="With --serve: port (0: any).")
def run(config_path: Path, once: bool, serve: bool, host: str, port: int) -> None:
    """Poll the channels, translate new items and publish the site.

    Without --once this runs until Ctrl-C or SIGTERM, polling each channel on its
    interval and picking up edits to the config file (or a SIGHUP) without a restart;
    --serve serves the site meanwhile from the same process. After every round it
    writes status.json beside the store, for monitoring.
    """
    from kanalwerk.config.paths import check_writable
    from kanalwerk.daemon import Daemon, SteppedClock
    from kanalwerk.lock import single_instance
    from kanalwerk.pipeline import open_pipeline

    if once and serve:
        raise click.UsageError("--serve keeps running; use it without --once")
    config = _load(config_path)
    check_writable(config)
    clock = SteppedClock.from_env(os.environ)
    timing = {"clock": clock} if clock is not None else {}
    with single_instance(config.store), open_pipeline(config, **timing) as pipeline:
        if not once:
            with _serving(config.output, host, port) if serve else contextlib.nullcontext():
                Daemon(pipeline, stepped=clock).run()
            return
        report = _run_once(pipeline, _globals(click.get_current_context()).handler)
    _summarise(report)
    code = once_exit_code(report)
    if code == EXIT_FAILED:
        raise click.ClickException("no channel could be fetched; see the log above")
    if code == EXIT_SOME_CHANNELS_FAILED:
        _say(f"warning: {report.poll.failed} channel(s) could not be fetched", "cycle", "partial")
    elif code == EXIT_ITEMS_WAIT:
        _say(f"warning: {report.translate.pending} item(s) wait for an engine", "cycle", "waiting")
    if code:
        raise click.exceptions.Exit(code)


def _run_once(pipeline: Pipeline, console: logging.Handler | None) -> CycleReport:
    """One cycle, its round recorded in status.json whether it ends well or not.

    A long one shows its progress (channels polled, items translated) on `console`'s
    terminal, or as a line now and then.
    """
    from kanalwerk.health import write_health
    from kanalwerk.pipeline.reports import CycleReport, round_facts
    from kanalwerk.progress import round_progress

    config = pipeline.config
    poll = translate = None
    try:
        with round_progress(sys.stderr, console) as progress:
            progress.phase("channels polled", "poll", sum(c.enabled for c in config.channels))
            poll = pipeline.poll()
            queued = pipeline.store.pending_items(config.translator.max_attempts)
            progress.phase("items translated", "translate", len(queued))
            translate = pipeline.translate()
        published = pipeline.publish()
    except Exception as exc:
        write_health(pipeline.config, round_facts(poll, translate, error=str(exc)))
        raise
    written = len(published.written) if published is not None else 0
    write_health(pipeline.config, round_facts(poll, translate, written))
    return CycleReport(poll, translate, published)


def once_exit_code(report: CycleReport) -> int:
    """The exit status of `run --once` for `report` (publishing failed raises instead)."""
    poll = report.poll
    if poll.outcomes and poll.succeeded == 0:
        return EXIT_FAILED
    if poll.failed:
        return EXIT_SOME_CHANNELS_FAILED
    if report.translate.pending:
        return EXIT_ITEMS_WAIT
    return EXIT_OK


@main.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8080, show_default=True, help="Port to listen on (0: any free one)."
)
def serve(config_path: Path, host: str, port: int) -> None:
    """Serve the output folder over HTTP until Ctrl-C, for previews and small sites.

    Feeds go out with their proper content types, with ETag/Last-Modified (304 when
    unchanged) and gzip. Larger sites are better served by nginx or Caddy (README).
    """
    from kanalwerk.errors import StopRequested

    output = Path(_load(config_path).output)
    if not output.is_dir():
        raise click.ClickException(
            f"{output} does not exist yet; run `kanalwerk publish` or `kanalwerk run --once` first"
        )

    def stop(signum: int, frame: FrameType | None) -> None:
        raise StopRequested

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with _serving(output, host, port) as server:
            server.wait()
    except (KeyboardInterrupt, StopRequested):
        log.info("stopped serving %s", output)
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _serving(output: Path, host: str, port: int) -> Iterator[Serving]:
    """Serve `output` while the block runs, and say where (one line on stdout)."""
    from kanalwerk.publish.serve import serving

    Path(output).mkdir(parents=True, exist_ok=True)
    with serving(Path(output), host, port) as server:
        click.echo(f"Serving {output} at {server.address.url} — Ctrl-C stops")
        yield server


def _summarise(report: CycleReport) -> None:
    poll, tr = report.poll, report.translate
    parts = [
        f"{poll.succeeded}/{len(poll.outcomes)} channel(s) fetched",
        f"{poll.new_items} new item(s)",
        f"{tr.translated} translated",
    ]
    if tr.failed:
        parts.append(f"{tr.failed} failed")
    if tr.pending:
        parts.append(f"{tr.pending} waiting")
    if report.published is not None:
        parts.append(f"{len(report.published.written)} file(s) written")
    _say("; ".join(parts), "cycle", "summary")
    if tr.stopped_reason:
        _say(f"warning: {tr.stopped_reason}", "translate", "stopped")


def _say(text: str, event: str, outcome: str) -> None:
    """A line for the user on stderr; a log object of `event` with --log-format json
    (a warning when the text is one, else info)."""
    if _globals(click.get_current_context()).log_format == "json":
        level = logging.WARNING if text.startswith("warning:") else logging.INFO
        log.log(level, text, extra=logs.fields(event=event, outcome=outcome))
    else:
        click.echo(text, err=True)


@main.command()
@config_option
def check(config_path: Path) -> None:
    """Validate the config file and exit non-zero on errors.

    Besides the file itself it checks that the output folder and the store's folder can
    be written, as `run` needs them.
    """
    from kanalwerk.config.paths import check_writable

    config = _load(config_path)
    check_writable(config)
    enabled = sum(1 for c in config.channels if c.enabled)
    click.echo(
        f"{config.path}: OK — {len(config.channels)} channel(s) ({enabled} enabled), "
        f"translator {config.translator.engine}, output {config.output}"
    )


# --- channels: add, remove, list, OPML ----------------------------------------------------


@main.command()
@config_option
@click.argument("url")
@click.option("--name", help="The channel's name (default: the feed's title).")
def add(config_path: Path, url: str, name: str | None) -> None:
    """Add a channel: a feed URL, a web page that announces its feed, or a YouTube
    channel URL, @handle or video URL.

    Shows what it found and appends the channel to the config file; the file's comments
    and layout stay as they are. A running `kanalwerk run` picks it up on its next round.
    """
    from kanalwerk.config.edit import NewChannel, add_channels, config_before_adding
    from kanalwerk.pipeline.poll import fetch_settings
    from kanalwerk.sources.discover import discover

    found = discover(url, fetch_settings(config_before_adding(config_path)))
    source = f"youtube: {found.youtube}" if found.youtube else f"url: {found.url}"
    click.echo(f"found: {logs.printable(found.title or '(no title)')}")
    click.echo(
        f"  feed: {found.feed_url}" + (f" (announced by {found.page})" if found.page else "")
    )
    for title in found.latest:
        click.echo(f"  - {logs.printable(title)}")
    chosen = " ".join((name or found.title or "").split())
    if not chosen:
        raise click.ClickException("the feed has no title; name the channel with --name NAME")
    add_channels(config_path, [NewChannel(chosen, url=found.url, youtube=found.youtube)])
    click.echo(f"added {chosen!r} to {config_path} ({source})")


@main.command()
@config_option
@click.argument("name")
def remove(config_path: Path, name: str) -> None:
    """Remove the channel NAME (its name or id) from the config file.

    Its items and articles stay in the store; the other entries and comments stay as
    they are.
    """
    from kanalwerk.config.edit import remove_channel

    remove_channel(config_path, name)
    click.echo(f"removed {name!r} from {config_path}; its items stay in the store")


@main.command(name="channels")
@config_option
def channels_cmd(config_path: Path) -> None:
    """List the channels: name, feed, items and articles stored, and the last fetch.

    It only reads, so it is safe beside a running `kanalwerk run`.
    """
    from kanalwerk.store import Store

    config = _load(config_path)
    with Store.existing(config.store) as store:
        statuses = {row.id: row for row in store.channel_statuses()} if store else {}
    for channel in config.channels:
        source = f"youtube {channel.youtube}" if channel.youtube else f"feed {channel.url}"
        row = statuses.get(channel.id)
        if row is None or row.last_fetched_at is None:
            fetched = "never fetched"
        else:
            outcome = f"error: {row.last_error}" if row.last_error else "OK"
            fetched = f"last fetch {row.last_fetched_at:%Y-%m-%d %H:%M} UTC {outcome}"
        counts = f"{row.items_total if row else 0} item(s), {row.items_published if row else 0}"
        paused = "" if channel.enabled else " (disabled)"
        click.echo(f"{channel.name}{paused}: {source}; {counts} article(s); {fetched}")


@main.command(name="import-opml")
@config_option
@click.argument("opml_file", type=click.Path(dir_okay=False, path_type=Path))
def import_opml(config_path: Path, opml_file: Path) -> None:
    """Add the feeds of an OPML file (a feed reader's export) as channels.

    Feeds in folders are added too; feeds the config already has are skipped.
    """
    from kanalwerk.config.edit import add_channels, configured_channels, plan_import
    from kanalwerk.errors import OpmlError
    from kanalwerk.opml import parse_opml

    try:
        data = opml_file.read_bytes()
    except OSError as exc:
        raise OpmlError(f"{opml_file}: cannot read it: {exc.strerror or exc}") from exc
    feeds = [(sub.title, sub.xml_url) for sub in parse_opml(data, name=str(opml_file))]
    added, skipped = plan_import(feeds, configured_channels(config_path))
    if added:
        add_channels(config_path, added)
    for channel in added:
        click.echo(f"added {logs.printable(channel.name)}: {channel.reference}")
    for skip in skipped:
        click.echo(f"skipped {logs.printable(skip.title)} ({skip.url}): {skip.reason}")
    click.echo(f"{len(added)} channel(s) added to {config_path}, {len(skipped)} skipped")


@main.command(name="export-opml")
@config_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
def export_opml(config_path: Path, output: Path | None) -> None:
    """Write the channels as OPML 2.0, for feed readers to import.

    A channel given by @handle is exported with its feed URL: the one the store
    remembers, else the one looked up now.
    """
    from kanalwerk.errors import OpmlError
    from kanalwerk.opml import Subscription, render_opml
    from kanalwerk.pipeline.poll import fetch_settings
    from kanalwerk.publish.files import write_atomic
    from kanalwerk.sources.discover import discover
    from kanalwerk.store import Store

    config = _load(config_path)
    known: dict[str, str] = {}  # feed URLs of @handle channels, as the store remembers them
    if any(channel.feed_url is None for channel in config.channels):
        with Store.existing(config.store) as store:
            if store is not None:
                known = {row.id: row.url for row in store.channel_statuses() if row.url}
    subscriptions = []
    for channel in config.channels:
        url = channel.feed_url or known.get(channel.id)
        if url is None:  # a handle never polled: look it up now
            url = discover(channel.youtube or "", fetch_settings(config)).feed_url
        subscriptions.append(Subscription(channel.name, url))
    data = render_opml(config.site.title, subscriptions, owner=config.site.author)
    if output is None:
        click.echo(data.decode("utf-8"), nl=False)
        return
    try:
        write_atomic(output, data)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OpmlError(f"{output}: cannot write the OPML file: {reason}") from exc
    click.echo(f"wrote {len(subscriptions)} channel(s) to {output}", err=True)


@main.command()
@config_option
@click.argument("name")
def enable(config_path: Path, name: str) -> None:
    """Poll the channel NAME (its name or id) again after it was disabled (410 Gone).

    Its backoff is reset too, so it is polled at its next turn. Safe beside a running
    `kanalwerk run`, which picks it up within seconds.
    """
    from kanalwerk.store import Store

    config = _load(config_path)
    channel = _channel_by_ref(config, name)
    with Store.existing(config.store) as store:
        if store is None:
            click.echo(f"{channel.name} is not disabled (nothing polled yet)")
            return
        try:
            enabled = store.enable_channel(channel.id)
        except KanalwerkError:  # in the config, not polled yet
            enabled = False
    if not enabled:
        click.echo(f"{channel.name} is not disabled")
        return
    click.echo(f"{channel.name} is enabled again and polled at its next turn")
    if not channel.enabled:
        click.echo(f"note: {config.path} says `enabled: false` for it; remove that to poll it")


def _channel_by_ref(config: Config, ref: str) -> ChannelConfig:
    """The configured channel whose id or name (any case) is `ref`."""
    for channel in config.channels:
        if ref.casefold() in (channel.id, channel.name.casefold()):
            return channel
    known = ", ".join(c.id for c in config.channels)
    raise click.ClickException(f"no channel {ref!r} in {config.path}; use {known}")


@main.command()
@config_option
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON document with stable keys (README: status --json), for scripts.",
)
def status(config_path: Path, as_json: bool) -> None:
    """Show each channel's last fetch, errors, queue and next poll, and translation usage.

    Per engine: today's usage against its daily budget and whether it is suspended
    (quota or budget spent); openai also in article mode, with today's cost in USD when
    its prices are configured; with a DeepL key set, DeepL's own count for the period.
    Then why items wait, `@handle`s that could not be looked up, and the daemon's last
    round (status.json). It only reads: the store is never changed, created or migrated,
    so it is safe beside a running `kanalwerk run`.
    """
    import json

    from kanalwerk.daemon import SteppedClock
    from kanalwerk.status.read import read_status
    from kanalwerk.status.report import status_json

    config = _load(config_path)
    clock = SteppedClock.from_env(os.environ)
    now = clock() if clock is not None else datetime.now(UTC)
    report = read_status(config, now)
    if as_json:
        click.echo(json.dumps(status_json(report), indent=2, ensure_ascii=False))
        return
    for line in _status_lines(report, now):
        click.echo(logs.printable(line))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "never"


def _status_lines(report: Report, now: datetime) -> Iterator[str]:
    if report.store.message is not None and report.store.state != "missing":
        yield f"store: {report.store.message}"
    for view in report.channels:
        row = view.row
        state = f"HTTP {row.last_status}" if row.last_status else "-"
        paused = "" if view.enabled else " (disabled)"
        yield (
            f"{row.name}{paused}: last fetch {_when(row.last_fetched_at)} ({state}); items "
            f"{row.items_total}, pending {row.items_pending}, published {row.items_published}, "
            f"failed {row.items_failed}"
        )
        if row.last_error:
            yield f"  error: {row.last_error} ({row.error_count}× in a row)"
        poll = view.next_poll
        if view.disabled_reason:
            yield f"  next poll disabled: {view.disabled_reason}"
            yield f"  to poll it again: kanalwerk enable {row.id}, or give it a new URL"
        elif poll is not None:
            yield f"  next poll {poll.describe(now)}"
            if poll.failing:
                days = (now - (row.failing_since or now)).days
                yield f"  FAILING for {days} days: check its URL, or remove it from the config"
        if view.handle_lookup is not None:
            h = view.handle_lookup
            yield f"  {h.handle} could not be looked up ({_when(h.at)}): {h.error}"
        if row.last_warning:
            yield f"  warning: {row.last_warning}"
    usage = report.usage
    yield (
        f"translation today: {usage.requests} request(s), {usage.characters} characters, "
        f"{usage.prompt_tokens + usage.completion_tokens} tokens"
    )
    for engine in report.engines:
        yield from _engine_lines(engine)
    if report.deepl is not None:
        yield _deepl_account_line(report.deepl)
    if report.pending_items:
        yield f"{report.pending_items} item(s) wait for translation"
    for reason in report.pending:
        count = f"{reason.items} item(s): " if reason.items else ""
        if reason.kind == "no-model":
            yield f"  {count}no model for their language: {reason.message}"
        elif reason.kind == "engines-unavailable":
            yield f"  no engine could translate at the last try: {reason.message}"
        else:
            what = "budget spent" if reason.kind == "budget-spent" else "resting"
            yield f"  {reason.engine} {what} until {_when(reason.until)}: {reason.message}"
    health = report.health
    if health is not None:
        outcome = "OK" if health.last_round_ok else "failed"
        yield (
            f"last round {_when(health.last_round_at)} ({outcome}); last successful round "
            f"{_when(health.last_success_at)}"
        )


def _of(used: int, limit: int | None) -> str:
    return f"{used:,}" if limit is None else f"{used:,} of {limit:,}"


def _engine_lines(engine: EngineStatus) -> list[str]:
    """Today's usage against the daily budget, cost if priced, and any suspension."""
    used, chars, tokens = engine.usage, engine.daily_characters, engine.daily_tokens
    spent_tokens = used.prompt_tokens + used.completion_tokens
    parts = [f"{used.requests} request(s)", f"{_of(used.characters, chars)} characters"]
    if spent_tokens or tokens is not None:  # only LLM engines count tokens
        parts.append(f"{_of(spent_tokens, tokens)} tokens")
    if engine.cost_usd is not None:
        parts.append(f"${engine.cost_usd:.4f}")
    note = {"configured": "", "article": " (article mode)", "former": " (no longer configured)"}
    budget_note = "" if chars is not None or tokens is not None else " (no daily budget)"
    lines = [f"  {engine.name}{note[engine.role]}: {', '.join(parts)} today{budget_note}"]
    if engine.suspension is not None:
        s = engine.suspension
        lines.append(f"    suspended until {s.until:%Y-%m-%d %H:%M} UTC: {s.reason}")
    return lines


#: DeepL reports this limit for Pro accounts without a cost control.
_DEEPL_NO_LIMIT = 10**12


def _deepl_account_line(account: DeepLAccount) -> str:
    usage = account.usage
    if usage is None:
        return f"DeepL account: usage unavailable: {account.error}"
    if usage.character_limit >= _DEEPL_NO_LIMIT:
        return f"DeepL account: {usage.character_count:,} characters this billing period (no limit)"
    return (
        f"DeepL account: {usage.character_count:,} of {usage.character_limit:,} characters "
        f"used this billing period ({usage.remaining:,} left)"
    )


# --- items: what was chosen, and why not -----------------------------------------------


@main.command()
@config_option
@click.option("--channel", "channel_ref", metavar="CHANNEL", help="Only this channel (id or name).")
@click.option("--skipped", is_flag=True, help="Only skipped items, with the reason.")
@click.option(
    "--state",
    metavar="STATE",
    help="Only items in this state, e.g. new, published, skipped or held.",
)
def items(config_path: Path, channel_ref: str | None, skipped: bool, state: str | None) -> None:
    """List items, newest first: id, channel, state, date, title, and why skipped.

    New items wait for translation; skipped ones were not chosen (backfill, a rule,
    Shorts, a duplicate) and never become articles; held ones are premieres or live
    streams that have not aired yet. It only reads the store, like `status`.

    An item whose transcript or full text could not be had says what its article is
    made from instead, and why (`[from its description: transcripts are disabled …]`).
    """
    from kanalwerk.store import Store
    from kanalwerk.store.schema import ITEM_STATES

    config = _load(config_path)
    if skipped and state not in (None, "skipped"):
        raise click.UsageError("--skipped lists skipped items; leave out --state or --skipped")
    wanted = "skipped" if skipped else state
    if wanted is not None and wanted not in ITEM_STATES:
        raise click.UsageError(f"unknown state {wanted!r}; use one of {', '.join(ITEM_STATES)}")
    channel_id = None if channel_ref is None else _channel_by_ref(config, channel_ref).id
    with Store.existing(config.store) as store:
        if store is None:
            return  # nothing polled yet, so no items
        rows = store.list_items(channel_id=channel_id, state=wanted)
    for row in rows:
        line = f"{row.id}  {row.channel_id}  {row.state}  {row.date:%Y-%m-%d}  {row.title}"
        if row.skip_reason and row.state in ("skipped", "held"):
            line += f"  ({row.skip_reason})"
        if row.source_reason:  # made from less than it could have been, and why
            line += f"  [from its {row.source_kind}: {row.source_reason}]"
        click.echo(logs.printable(line))


@main.command(name="publish")
@config_option
def publish_cmd(config_path: Path) -> None:
    """Re-render the feed and the site from the store, without polling.

    \f
    It writes the store and the output as `run` does, so it takes the same lock.
    """
    from kanalwerk.lock import PUBLISH_INSTEAD, single_instance
    from kanalwerk.pipeline import open_pipeline

    config = _load(config_path)
    with (
        single_instance(config.store, instead=PUBLISH_INSTEAD),
        open_pipeline(config) as pipeline,
    ):
        result = pipeline.publish(force=True)
    assert result is not None
    click.echo(f"{len(result.written)} file(s) written, {result.unchanged} unchanged")


# --- review: pending, show, approve, reject, unpublish ---------------------------------


def _ids(ids: tuple[int, ...], everything: bool, config: Config) -> list[int]:
    from kanalwerk import review

    if everything:
        return [*ids, *(a.item_id for a in review.drafts(config))]
    if not ids:
        raise click.UsageError("name at least one ID (see `kanalwerk pending`), or use --all")
    return list(ids)


def _line(*fields: str | None) -> str:
    """Tab-separated fields, control characters from feeds shown escaped."""
    return "\t".join(logs.printable(field or "-") for field in fields)


@main.command()
@config_option
def pending(config_path: Path) -> None:
    """List drafts waiting for review: id, channel, German title, original link.

    \f
    It only reads the store, so it is safe beside a running `kanalwerk run`.
    """
    from kanalwerk import review

    drafts = review.drafts(_load(config_path))
    for draft in drafts:
        source = draft.source
        click.echo(_line(str(draft.item_id), source.channel_name, draft.title, source.link))
    if not drafts:
        click.echo("no drafts waiting for review", err=True)


@main.command()
@config_option
@click.argument("item_id", metavar="ID", type=int)
def show(config_path: Path, item_id: int) -> None:
    """Print the German article ID as text: title, teaser, body and the original's link."""
    from kanalwerk import review
    from kanalwerk.sanitize import html_to_text

    article, state = review.article(_load(config_path), item_id)
    body = html_to_text(article.content_html)
    for line in (article.title, "", article.summary, "", *body.splitlines(), ""):
        click.echo(logs.printable(line))
    click.echo(_line(f"Original: {article.source.link or '-'}"))
    click.echo(f"({state}, {article.source.channel_name})", err=True)


def _decide(config_path: Path, verb: str, ids: tuple[int, ...], everything: bool) -> None:
    from kanalwerk import review
    from kanalwerk.lock import held_if_free

    decision = {"approve": review.APPROVE, "reject": review.REJECT}[verb]
    config = _load(config_path)
    with held_if_free(config.store) as alone:
        wanted = _ids(ids, everything, config)
        changed = review.decide(config, decision, wanted) if wanted else []
    if not wanted:
        click.echo("no drafts waiting for review", err=True)
        return
    done = {"approve": "approved", "reject": "rejected"}[verb]
    listed = ", ".join(map(str, changed)) if changed else "none changed"
    click.echo(f"{done} {len(changed)} article(s): {listed}")
    if verb == "approve" and changed:
        click.echo(
            "the next cycle publishes them (`kanalwerk run --once`)"
            if alone
            else "the running kanalwerk publishes them at its next round"
        )


_all_option = click.option("--all", "everything", is_flag=True, help="Every draft waiting.")


@main.command()
@config_option
@_all_option
@click.argument("ids", metavar="ID...", nargs=-1, type=int)
def approve(config_path: Path, ids: tuple[int, ...], everything: bool) -> None:
    """Approve drafts (ids from `kanalwerk pending`); the next cycle publishes them.

    A rejected article can be approved too. Unknown ids change nothing and exit 1.
    """
    _decide(config_path, "approve", ids, everything)


@main.command()
@config_option
@_all_option
@click.argument("ids", metavar="ID...", nargs=-1, type=int)
def reject(config_path: Path, ids: tuple[int, ...], everything: bool) -> None:
    """Reject drafts (ids from `kanalwerk pending`): they are never published."""
    _decide(config_path, "reject", ids, everything)


@main.command()
@config_option
@click.argument("ids", metavar="ID...", nargs=-1, type=int, required=True)
def unpublish(config_path: Path, ids: tuple[int, ...]) -> None:
    """Take published articles off the feeds, index and archives now.

    Each page stays as a short notice ("Dieser Beitrag wurde entfernt."), so links do
    not break; a re-delivered or edited original never brings the article back.
    """
    from kanalwerk import review
    from kanalwerk.lock import held_if_free

    config = _load(config_path)
    with held_if_free(config.store) as alone:
        changed, result = review.unpublish(config, ids, publish=alone)
    listed = ", ".join(map(str, changed)) if changed else "none changed"
    written = f"; {len(result.written)} file(s) written" if result is not None else ""
    click.echo(f"unpublished {len(changed)} article(s): {listed}{written}")
    if changed and not alone:
        click.echo("the running kanalwerk takes them off the site at its next round")


@main.group()
def models() -> None:
    """Manage the offline translation models (Argos Translate packages).

    \f
    These commands use `translate.packages` directly, not the pipeline: they manage
    model files on disk, with no store, channels or engines involved.
    """


def _local_settings(config_path: Path) -> tuple[str, Path | None]:
    """Index URL and data folder from the config when there is one, else the defaults."""
    from kanalwerk.config import LocalConfig
    from kanalwerk.translate.packages import resolve_index_url

    local = _load(config_path).translator.local if config_path.exists() else LocalConfig()
    return resolve_index_url(str(local.package_index_url)), local.data_dir


@models.command(name="list")
@config_option
@click.option("--available", is_flag=True, help="Also list the packages the index offers.")
def models_list(config_path: Path, available: bool) -> None:
    """List installed models (and, with --available, what can be installed)."""
    from kanalwerk.translate import packages

    index_url, data_dir = _local_settings(config_path)
    installed = packages.installed_packages(data_dir)
    click.echo(f"installed in {packages.packages_dir(data_dir)}:")
    for pkg in installed:
        click.echo(f"  {pkg.pair}  {pkg.version}")
    if not installed:
        click.echo("  (none)")
    if available:
        offered = packages.load_index(index_url)
        click.echo(f"available from {index_url}:")
        for info in sorted(offered, key=lambda i: (i.from_code, i.to_code)):
            click.echo(f"  {info.pair}  {info.version}")


@models.command(name="install")
@config_option
@click.argument("source", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "from_code", default="en", show_default=True, help="Source language.")
@click.option("--to", "to_code", default="de", show_default=True, help="Target language.")
def models_install(config_path: Path, source: Path | None, from_code: str, to_code: str) -> None:
    """Install a model: from a local .argosmodel FILE, or download FROM→TO from the index."""
    from kanalwerk.progress import download_progress
    from kanalwerk.translate import packages

    index_url, data_dir = _local_settings(config_path)
    if source is not None:
        installed = [packages.install_from_file(source, data_dir)]
    else:
        installed = packages.ensure_package(
            from_code,
            to_code,
            index_url=index_url,
            data_dir=data_dir,
            progress=download_progress(f"{from_code}→{to_code}"),
        )
    for pkg in installed:
        click.echo(f"installed {pkg.pair} {pkg.version} in {pkg.path}")


@models.command(name="remove")
@config_option
@click.argument("from_code")
@click.argument("to_code")
def models_remove(config_path: Path, from_code: str, to_code: str) -> None:
    """Remove the installed FROM_CODE→TO_CODE model."""
    from kanalwerk.translate import packages

    _, data_dir = _local_settings(config_path)
    if not packages.remove_package(from_code, to_code, data_dir):
        raise click.ClickException(f"no {from_code}→{to_code} model is installed")
    click.echo(f"removed {from_code}→{to_code}")
