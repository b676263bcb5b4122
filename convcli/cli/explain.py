"""Commands that show what a network learned: `gradcam`, `activations`, `filters`, and
`augment` (what augmentation does to an image)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from convcli.cli.main import (CLASSES_OPTION, MODEL_OPTION, OUTPUT_OPTION, RUN_OPTION, RUNS_DIR,
                              new_console, parse_names)
from convcli.tfenv import import_tensorflow


def gradcam(images: List[Path] = typer.Argument(..., help="Image files or folders of images."),
            run: Optional[str] = RUN_OPTION, model: Optional[Path] = MODEL_OPTION,
            classes: Optional[str] = CLASSES_OPTION, output: Optional[str] = OUTPUT_OPTION,
            layer: Optional[str] = typer.Option(None, help="The feature map to explain (default: the "
                                                "last one, inside a pretrained base too)."),
            class_: Optional[str] = typer.Option(None, "--class", help="Class name or index to explain "
                                                 "(default: each image's predicted class)."),
            alpha: float = typer.Option(0.4, min=0, max=1, help="Heatmap opacity over the image."),
            out: Path = typer.Option(Path("gradcam"), help="Folder for <image>.png and <image>.npy."),
            runs_dir: Path = RUNS_DIR) -> None:
    """Grad-CAM heatmaps: where in each image the evidence for a class is."""
    import_tensorflow()
    from convcli.explanations import write_gradcams
    from convcli.tables import gradcam_table

    results, class_names, title, explained = write_gradcams(images, run, model, layer, class_, alpha,
                                                            out, runs_dir, classes=parse_names(classes),
                                                            output=output)
    new_console().print(gradcam_table(results, class_names, title, explained))
    typer.echo(f"wrote {2 * len(results)} files to {out}/")


def activations(image: Path = typer.Argument(..., help="One image file."),
                run: Optional[str] = RUN_OPTION, model: Optional[Path] = MODEL_OPTION,
                output: Optional[str] = OUTPUT_OPTION,
                layers: List[str] = typer.Option([], "--layers", help="Layer names (repeatable or "
                                                 "comma-separated; default: every convolution and "
                                                 "pooling layer, inside a pretrained base too)."),
                out: Path = typer.Option(Path("activations"), help="Folder for one PNG per layer."),
                runs_dir: Path = RUNS_DIR) -> None:
    """What each convolution and pooling layer makes of one image: a grid of its channels."""
    import_tensorflow()
    from convcli.explanations import write_activation_grids

    written = write_activation_grids(image, run, model, layers, out, runs_dir, output=output)
    typer.echo(f"wrote {len(written)} layer grids to {out}/ ({written[0].name} ... {written[-1].name})")


def filters(layer: str = typer.Option(..., help="A convolution layer, inside a pretrained base too."),
            run: Optional[str] = RUN_OPTION,
            model: Optional[Path] = typer.Option(None, "--model", help="A .keras/.h5/.hdf5 model file "
                                                 "instead of a run."),
            output: Optional[str] = OUTPUT_OPTION,
            base: Optional[str] = typer.Option(None, help="A pretrained base by name instead of a run "
                                               "(convcli train --help lists them)."),
            weights: Optional[str] = typer.Option(None, help="With --base: imagenet, builtin, none or "
                                                  "a file (default: builtin for builtin, else imagenet)."),
            size: Optional[int] = typer.Option(None, min=16, help="With --base: pattern side in pixels "
                                               "(default 64 builtin, 150 otherwise)."),
            count: int = typer.Option(16, min=1, max=256, help="How many filters, from filter 0."),
            out: Path = typer.Option(Path("."), help="Folder for filters_<layer>.png."),
            runs_dir: Path = RUNS_DIR) -> None:
    """The pattern each filter responds to most, by gradient ascent in input space."""
    import_tensorflow()
    from convcli.explanations import write_filter_grid

    typer.echo(f"wrote {write_filter_grid(layer, run, base, weights, size, count, out, runs_dir, model, output)}")


def augment(config: Path = typer.Argument(..., help="A config with an augment section, or the name "
                                          "of a shipped one: recipes/modern."),
            image: Path = typer.Argument(..., help="One image file."),
            count: int = typer.Option(15, min=1, max=256, help="How many augmented versions."),
            out: Path = typer.Option(Path("."), help="Folder for <image>_augmented.png."),
            set_: List[str] = typer.Option([], "--set", help="Override a config key.")) -> None:
    """A grid of augmented versions of one image: see what augmentation does before training."""
    import_tensorflow()
    from convcli.explanations import augment_preview

    from convcli.shipped import config_path

    path, shares = augment_preview(config_path(config), image, count, out, set_)
    typer.echo(f"wrote {path} (top left: the image as the model sees it, then {count} augmented)")
    if shares:
        typer.echo("mixup/cutmix mixed each version with another training image; its share of "
                   f"this image's label, in order: {', '.join(f'{share:.2f}' for share in shares)}")
