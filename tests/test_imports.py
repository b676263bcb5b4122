"""Imports flow one way (docs/architecture.md); --help never loads TensorFlow."""

import ast
import subprocess
import sys
from pathlib import Path

import convcli

PACKAGE = Path(convcli.__file__).parent
# Lower levels never import higher ones; peers on one level never import each other.
LEVELS = {
    "errors": 0, "tfenv": 0, "explain": 0, "bases": 0, "stats": 0, "safeyaml": 0,
    "formats": 0,  # how numbers are written for a person, which table layout fits
    "pages.parts": 0,  # the style and pieces every page shares (no convcli imports)
    "pages.charts": 0,  # the pages' line charts as inline SVG (no convcli imports)
    "pages.curves": 1,  # a run's metrics.csv as charts
    "config": 1, "devices": 1,
    "files": 1,  # atomic writes, staged folders, read_json, cache_dir (imports level 0 only)
    "records": 1,  # meta.json, summary.json, the checkpoint state, sweep.yaml: typed, versioned
    "cache": 1,  # the cache folder's entries: locks, last use, pruning (imports level 0 only)
    "runs": 2, "data": 2, "models": 2,
    "pages.gallery": 2,  # a run page's Grad-CAM gallery and hardest examples (reads records)
    "pages.lr_plot": 3,  # lr-find.png (matplotlib, through pages.plots)
    "pages.plots": 2,  # the figures, matplotlib only: below evaluation, which draws its confusion matrix
    "pages.sweep_charts": 2,  # a sweep's charts as Series, from its files: SVG on its page, PNG in plots/
    "tracking": 3,  # MLflow runs, a sweep's parent run, TensorBoard HParams (mlflow imported lazily)
    "training": 3, "tables": 3, "run_tables": 3, "image_files": 3, "pages.run": 3, "evaluation": 3,
    "pages.sweep": 3,  # a sweep's page and plots/ from its files, below sweeps/, which writes them
    "draft": 3, "shipped": 3,
    "pretraining": 4,  # the built-in base, trained on the source task (uses training)
    "sweeps": 4,
    "pages.demo": 4,  # the demo's page, from run_tables' cells
    "pages.index": 5,  # index.html of a runs folder: runs and sweeps (sweeps/directory.py)
    "stages": 5,
    "push": 5,  # `runs push`: runs and sweeps (sweeps/tracked.py) sent to MLflow later
    "experiment": 6, "resolve": 6,
    "exporting": 6,
    "explanations": 7, "prediction": 7, "demo": 7,
    "lr_find": 7,  # the learning-rate range test (experiment.prepare builds its model)
    "cli": 8,
    "__main__": 9,
}


# pages/ spans levels (its parts sit under evaluation, its sweep page above sweeps): each of
# its modules is a unit of its own, named "pages.<module>".
SPLIT = {"pages"}


def top(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 2 and parts[1] in SPLIT:
        return ".".join(parts[1:3])
    return parts[1] if len(parts) > 1 else ""


def convcli_imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("convcli."):
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("convcli."))


def test_every_module_has_a_level():
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
    for package in SPLIT:
        names.discard(package)
        names |= {f"{package}.{p.stem}" for p in (PACKAGE / package).glob("*.py") if p.stem != "__init__"}
    assert names <= set(LEVELS), f"give these a level: {names - set(LEVELS)}"


def test_imports_flow_one_way():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        source = top(".".join(relative.parts)) or relative.parts[-1]
        if source == "__init__" or source.endswith(".__init__"):
            continue
        for target in convcli_imports(path):
            target_top = top(target)
            if target_top == source:
                continue  # inside one package
            if source == "explain" or LEVELS[target_top] >= LEVELS[source]:
                wrong.append(f"{relative} imports {target}")
    assert not wrong, "imports against the flow:\n" + "\n".join(wrong)


def test_help_does_not_import_tensorflow():
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom convcli.cli import app\n"
            "for args in (['--help'], ['train', '--help'], ['summary', '--help'], ['pretrain', '--help'], ['data', 'synth', '--help'], ['--version'], ['configs'], ['configs', 'copy', '--help']):\n"
            "    assert CliRunner().invoke(app, args).exit_code == 0, args\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_data_check_imports_tensorflow_lazily():
    """convcli.data.check (level 2, under "data") imports TensorFlow only when it decodes."""
    code = ("import sys\nimport convcli.data.check\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
