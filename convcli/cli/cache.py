"""`convcli cache`: what the cache folder holds (`cache`), and removing it (`cache prune`)."""

from __future__ import annotations

import json
import time
from typing import Optional

import typer

from convcli.cli.main import new_console

cache_app = typer.Typer(help="What the cache folder holds, and pruning it (`convcli cache` lists it).")
PRUNE_DAYS = 30.0  # `cache prune` alone: what has not been used for a month


def cache_list(ctx: typer.Context,
               as_json: bool = typer.Option(False, "--json", help="Print the entries as JSON.")) -> None:
    """List the cache folder's entries (features, decoded images, check records, built-in
    data and base) with their sizes and last use, oldest first."""
    if ctx.invoked_subcommand:
        return
    from convcli import cache
    from convcli.files import cache_dir

    entries = cache.entries(cache_dir())
    if as_json:
        typer.echo(json.dumps([as_dict(entry) for entry in entries], indent=2))
        return
    from convcli.formats import Fitted

    new_console().print(Fitted(entries_table(entries, cache_dir())))


def cache_prune(older_than: Optional[float] = typer.Option(
                    None, "--older-than", metavar="DAYS",
                    help=f"Remove what was last used more than DAYS ago (default {PRUNE_DAYS:g})."),
                everything: bool = typer.Option(False, "--all", help="Remove every entry.")) -> None:
    """Remove cache entries; never one a running convcli process is writing or reading."""
    from convcli import cache
    from convcli.formats import size
    from convcli.files import cache_dir

    days = None if everything else (PRUNE_DAYS if older_than is None else older_than)
    kept = [entry for entry in cache.entries(cache_dir()) if entry.busy]
    removed = cache.prune(cache_dir(), days, everything)
    typer.echo(f"removed {len(removed)} entries ({size(sum(e.size for e in removed))}) from "
               f"{cache_dir()}" + (f"; {len(kept)} in use kept" if kept else ""))


def as_dict(entry) -> dict:
    return {"kind": entry.kind, "path": str(entry.path), "bytes": entry.size,
            "last_use": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(entry.last_use)),
            "about": entry.about, "in_use": entry.busy, "unfinished": entry.staging}


def entries_table(entries: list, root):
    """kind, name, size, last use (days ago) and what it was made from; 80 columns."""
    from rich.table import Table

    from convcli.cache import KINDS
    from convcli.formats import size

    table = Table(title=f"{root}: {len(entries)} entries, {size(sum(e.size for e in entries))}",
                  box=None, caption="prune: convcli cache prune [--older-than DAYS] [--all]")
    for name in ("kind", "entry", "size", "last use", "made from"):
        table.add_column(name, no_wrap=name != "made from", overflow="fold")
    for entry in entries:
        state = " (in use)" if entry.busy else " (unfinished)" if entry.staging else ""
        table.add_row(KINDS[entry.kind], entry.path.name[:24] + state, size(entry.size),
                      days_ago(entry.last_use), entry.about if entry.about != entry.path.name else "")
    return table


def days_ago(stamp: float) -> str:
    days = (time.time() - stamp) / 86400
    return "today" if days < 1 else f"{days:.0f} days ago"
