"""The ``securitybrief`` command line."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
from dataclasses import replace
from pathlib import Path

import click
from click.core import ParameterSource

from bot.config import ConfigError, Settings, load_settings, unknown_names
from bot.models import FeedSpec, FetchResult
from bot.news import lexicon
from bot.news.feeds import FeedsFileError, export_opml, feeds_to_toml, import_opml, load_feeds
from bot.news.fetch import make_client
from bot.news.newsroom import BriefResult, Newsroom
from bot.news.pipeline import RefreshReport, refresh, utcnow
from bot.news.render import render_html, render_json, render_text
from bot.ops.backup import BackupError
from bot.ops.backup import backup as make_backup
from bot.ops.backup import restore as restore_backup
from bot.ops.doctor import report, run_checks
from bot.ops.status import feed_states, status_report
from bot.storage.db import open_db


def _settings(ctx: click.Context, feeds: Path | None = None) -> Settings:
    settings = _load(ctx)
    return replace(settings, feeds_file=feeds) if feeds else settings


def _load(ctx: click.Context) -> Settings:
    """The settings, read, checked and put to use (word lists, logging) on first use."""
    if "settings" not in ctx.obj:
        ctx.obj["settings"] = _configure(ctx.obj["env_file"], ctx.obj["env_file_given"])
    settings: Settings = ctx.obj["settings"]
    return settings


def _configure(env_file: Path, given: bool) -> Settings:
    """Read and check the settings, load the word lists and set up logging."""
    # Only the default .env may be absent: a mistyped path would run on other settings.
    if given and not env_file.exists():
        raise click.ClickException(f"--env-file {env_file}: no such file")
    if given and env_file.is_dir():
        raise click.ClickException(f"--env-file {env_file}: a folder, not a settings file")
    try:
        settings = load_settings(env_file=env_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        lexicon.use(settings.lexicon_file)
    except lexicon.LexiconError as exc:
        raise click.ClickException(f"LEXICON_FILE: {exc}") from None
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL at INFO; with a bot token in the URL that would leak it.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return settings


def _feeds(settings: Settings) -> list[FeedSpec]:
    try:
        return load_feeds(settings.feeds_file)
    except FeedsFileError as exc:
        raise click.ClickException(str(exc)) from None


class _Commands(click.Group):
    """The command group: a path or database that cannot be used ends in one line, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; a file-system or database error becomes a one-line message."""
        try:
            return super().invoke(ctx)
        except (BrokenPipeError, ConnectionError, TimeoutError):
            raise  # a closed pipe (click ends quietly) or the network: not a path problem
        except (OSError, sqlite3.Error) as exc:
            # The traceback stays available to whoever debugs (LOG_LEVEL=DEBUG).
            logging.getLogger(__name__).debug("command failed", exc_info=True)
            hint = " (check DATABASE_PATH)" if isinstance(exc, sqlite3.Error) else ""
            raise click.ClickException(f"{exc}{hint}") from None


@click.group(cls=_Commands)
@click.option(
    "--env-file",
    type=click.Path(path_type=Path),
    default=Path(".env"),
    show_default=True,
    help="Settings file read before the environment (when given, it must exist).",
)
@click.version_option(package_name="securitybrief")
@click.pass_context
def cli(ctx: click.Context, env_file: Path) -> None:
    """Security Brief: world-news feeds in, one daily security brief out."""
    # Settings are read when a command first needs them: a subcommand's --help runs after this
    # callback, and must work whatever the settings hold.
    source = ctx.get_parameter_source("env_file")
    given = source not in {ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP}
    ctx.obj = {"env_file": env_file, "env_file_given": given}


async def _fetch(settings: Settings, force: bool, progress: bool) -> RefreshReport:
    specs = _feeds(settings)
    db = open_db(settings.database_path)
    done = 0

    def show(result: FetchResult) -> None:
        nonlocal done
        done += 1
        if not progress:
            return
        if result.error:
            state = click.style(f"failed: {result.error}", fg="red")
        elif result.not_modified:
            state = "unchanged"
        else:
            state = click.style(f"ok ({len(result.body):,} bytes)", fg="green")
        click.echo(
            f"[{done:>2}/{len(specs)}] {result.spec.name}: {state} in {result.elapsed:.1f} s",
            err=True,
        )

    try:
        async with make_client(settings.fetch_timeout_seconds) as client:
            return await refresh(db, settings, specs, client, force=force, on_done=show)
    finally:
        db.close()


@cli.command()
@click.option(
    "--feeds", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="Feeds TOML file."
)
@click.option("--force", is_flag=True, help="Ignore back-off and fetch every feed now.")
@click.pass_context
def fetch(ctx: click.Context, feeds: Path | None, force: bool) -> None:
    """Fetch all feeds now and store new articles."""
    settings = _settings(ctx, feeds)
    report = asyncio.run(_fetch(settings, force, progress=True))
    click.echo(
        f"{report.fetched} fetched, {report.not_modified} unchanged, {len(report.failed)} failed, "
        f"{report.skipped_backoff} backing off; {report.new_articles} new articles."
    )
    if _nothing_fetched(report):
        raise click.ClickException(_nothing_fetched_error(report))


def _nothing_fetched(report: RefreshReport) -> bool:
    """True when a fetch round got nothing: every feed failed, or is backing off after failing
    (the Newsroom's test for "couldn't reach the news feeds")."""
    return (
        not report.fetched
        and not report.not_modified
        and bool(report.failed or report.skipped_backoff)
    )


def _nothing_fetched_error(report: RefreshReport) -> str:
    return (
        f"no feed could be fetched ({len(report.failed)} failed, {report.skipped_backoff} "
        "backing off); see `securitybrief feeds`"
    )


async def _current_brief(
    settings: Settings, no_fetch: bool, force: bool
) -> tuple[BriefResult, str | None]:
    """The brief the bot would serve now (the Newsroom's), fetching first if it is stale; and
    why no feed could be fetched, when none could."""
    db = open_db(settings.database_path)
    try:
        async with make_client(settings.fetch_timeout_seconds) as client:
            room = Newsroom(db, settings, _feeds(settings), client, utcnow)
            result = await (room.from_stored() if no_fetch else room.current(force=force))
    finally:
        db.close()
    report, failure = room.last_report, None
    if room.last_refresh_error is not None:
        failure = f"fetching the feeds failed: {room.last_refresh_error}"
    elif report is not None and _nothing_fetched(report):
        failure = _nothing_fetched_error(report)
    elif result.no_feed_answered:  # the stored brief of an earlier round that reached no feed
        failure = "no feed could be fetched for this brief; see `securitybrief feeds`"
    elif report is not None and report.failed:
        click.echo(f"{len(report.failed)} feed(s) failed; see `securitybrief feeds`.", err=True)
    if result.problem:
        click.echo(result.problem, err=True)
    return result, failure


@cli.command()
@click.option(
    "--feeds", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="Feeds TOML file."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--html", "as_html", is_flag=True, help="Print the Telegram HTML messages.")
@click.option("--no-fetch", is_flag=True, help="Use stored articles only.")
@click.pass_context
def digest(
    ctx: click.Context, feeds: Path | None, as_json: bool, as_html: bool, no_fetch: bool
) -> None:
    """Print the current brief (fetching first if it is stale)."""
    settings = _settings(ctx, feeds)
    result, failure = asyncio.run(_current_brief(settings, no_fetch, force=feeds is not None))
    brief = result.brief.top(settings.brief_stories)
    if as_json:
        click.echo(render_json(brief))
    elif as_html:
        click.echo("\n\n-----\n\n".join(render_html(brief)))
    else:
        click.echo(render_text(brief))
    if failure:
        raise click.ClickException(failure)  # after the (stored) brief, which is still shown


@cli.group(invoke_without_command=True)
@click.pass_context
def feeds(ctx: click.Context) -> None:
    """Show feed health; import or export the feed list."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings(ctx)
    specs = _feeds(settings)
    db = open_db(settings.database_path)
    try:
        states = feed_states(db, specs)
    finally:
        db.close()
    width = max(len(s.name) for s in specs)
    click.echo(f"{'Feed':<{width}}  {'Status':<8}  {'Last success':<20}  {'Items':>5}  Last error")
    for f in states:
        last_ok = (f.last_success or "-")[:19].replace("T", " ")
        error = f"{f.error} ({f.failures}x)" if f.failures else f.error
        click.echo(f"{f.name:<{width}}  {f.state:<8}  {last_ok:<20}  {f.items:>5}  {error}")


@feeds.command("import")
@click.argument("opml_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the feeds TOML here (default: print it).",
)
def feeds_import(opml_file: Path, output: Path | None) -> None:
    """Convert an OPML file into the feeds TOML format."""
    try:
        specs = import_opml(opml_file.read_text("utf-8", errors="replace"))
    except FeedsFileError as exc:
        raise click.ClickException(f"{opml_file}: {exc}") from None
    text = feeds_to_toml(specs)
    if output:
        output.write_text(text, "utf-8")
        click.echo(
            f"Wrote {len(specs)} feeds to {output}. Use it with FEEDS_FILE={output}.", err=True
        )
    else:
        click.echo(text, nl=False)


@feeds.command("export")
@click.pass_context
def feeds_export(ctx: click.Context) -> None:
    """Print the current feed list as OPML."""
    click.echo(export_opml(_feeds(_settings(ctx))), nl=False)


@cli.command()
@click.option("--terminal", is_flag=True, help="Terminal mode even when a token is set.")
@click.pass_context
def run(ctx: click.Context, terminal: bool) -> None:
    """Run the bot (terminal mode when no TELEGRAM_BOT_TOKEN is set)."""
    settings = _settings(ctx)
    _feeds(settings)  # fail early and clearly on a broken feeds file
    env_file = ctx.obj["env_file"]
    for note in unknown_names(env_file):
        click.echo(f"Warning: {env_file}: {note}", err=True)
    if not settings.telegram_bot_token and not terminal and not sys.stdin.isatty():
        # Under Docker or systemd there is nobody to chat with: say what is missing, loudly.
        raise click.ClickException(
            "TELEGRAM_BOT_TOKEN is not set, and there is no terminal to chat in. Set the token "
            "(see .env.example), or pass --terminal to use terminal mode with piped input."
        )
    if terminal or not settings.telegram_bot_token:
        from bot.telegram.terminal import chat

        # Log lines would interleave with the conversation on the same screen (a dozen per
        # round when offline): only errors are logged; terminal mode sums up failed feeds itself.
        logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))

        asyncio.run(chat(settings))
        return
    from bot.telegram.app import run as run_bot

    mode = "webhook" if settings.webhook_url else "long polling"
    click.echo(f"Starting the bot ({mode}) against {settings.telegram_api_url}.", err=True)
    run_bot(settings)


@cli.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Subscribers, last fetch, last brief, last broadcast and failing feeds."""
    lines, healthy = status_report(_settings(ctx), utcnow())
    click.echo("\n".join(lines))
    if not healthy:
        ctx.exit(1)  # the Docker health check relies on this


@cli.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check settings, database, Telegram and every feed; say plainly what is wrong."""
    checks = asyncio.run(run_checks(_settings(ctx), ctx.obj["env_file"]))
    if not report(checks, click.echo):
        ctx.exit(1)


@cli.command()
@click.argument("target", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def backup(ctx: click.Context, target: Path) -> None:
    """Write a consistent copy of the live database to TARGET (safe while the bot runs)."""
    source = _settings(ctx).database_path
    try:
        pages = make_backup(source, target)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Backed up {source} to {target} ({pages} pages, integrity ok).")


@cli.command()
@click.argument(
    "backup_file", metavar="BACKUP", type=click.Path(path_type=Path, exists=True, dir_okay=False)
)
@click.option(
    "--with-wal",
    is_flag=True,
    help="Read the -wal (or -journal) beside BACKUP with it: it was copied with the file.",
)
@click.pass_context
def restore(ctx: click.Context, backup_file: Path, with_wal: bool) -> None:
    """Replace the database with BACKUP, after checking it (stop the bot first)."""
    database = _settings(ctx).database_path
    try:
        pages = restore_backup(backup_file, database, with_wal)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Restored {backup_file} to {database} ({pages} pages, integrity ok).")


def main() -> None:
    """Entry point of the ``securitybrief`` console script."""
    # Opt in to python-telegram-bot's future timedelta durations (silences its deprecation notice).
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    cli(prog_name="securitybrief")
