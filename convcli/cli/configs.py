"""Commands about configs: `configs` (the shipped ones), `configs copy`, `schema`, and
`init` (a config drafted for a dataset folder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional

import typer

from convcli.cli.main import new_console
from convcli.tfenv import import_tensorflow


def configs_list(ctx: typer.Context) -> None:
    """The configs and sweeps convcli ships: `convcli train NAME` runs one, `convcli configs
    copy NAME` writes one out to edit."""
    if ctx.invoked_subcommand is not None:
        return
    from convcli.run_tables import shipped_table
    from convcli.shipped import shipped_files

    new_console().print(shipped_table(shipped_files()))


def configs_copy(name: str = typer.Argument(..., metavar="NAME", help="A shipped config or sweep, as `convcli "
                                            "configs` names it (finetune, book/finetune, sweeps/lr)."),
                 directory: Path = typer.Argument(Path("."), metavar="DIR", help="The folder to "
                                                  "write it into (made if missing).")) -> None:
    """Write a shipped config (or sweep, with its base config) into DIR to edit; never
    overwrites a file."""
    from convcli.shipped import copy_shipped

    shipped, written = copy_shipped(name, directory)
    typer.echo(f"wrote {', '.join(map(str, written))}; run it with: "
               f"convcli {'sweep' if shipped.is_sweep else 'train'} {written[-1]}")


def schema() -> None:
    """Print the JSON Schema of a config file."""
    from convcli.config import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


def init(data_dir: Path = typer.Argument(..., metavar="DATA_DIR", help="A dataset folder: train/, "
                                         "validation/ (or val/), test/ of class folders, or one "
                                         "folder of class folders."),
         stage: Literal["scratch", "augment", "extract", "fine-tune"] = typer.Option(
             "fine-tune", "--stage", help="The experiment the config runs."),
         out: Path = typer.Option(Path("config.yaml"), "--out", help="The config file to write "
                                  "(never over an existing file)."),
         base: Optional[str] = typer.Option(None, "--base", help="extract / fine-tune: the pretrained "
                                            "base (default: vgg16, the book's; builtin runs offline).")) -> None:
    """Write a commented config for a dataset folder: its splits and classes, an image_size
    from its images, grayscale and class weights when the scan calls for them, the stage's
    sections with the book's values. It validates as written."""
    import_tensorflow()
    from convcli.draft import write_draft
    from convcli.tables import check_tables

    draft = write_draft(data_dir, stage, out, base)
    new_console().print(check_tables(draft.report))
    typer.echo(f"wrote {out} (stage {stage}, {len(draft.class_names)} classes, image_size "
               f"{list(draft.image_size)}, batch_size {draft.batch_size}); run it with: "
               f"convcli train {out}")
