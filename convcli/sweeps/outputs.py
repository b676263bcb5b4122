"""A finished sweep's pictures and page: plots/ and report.html.

Both are drawn by convcli/pages/sweep.py from the files the sweep has just written
(sweep.yaml, points.csv, trials.csv, the trials' metrics.csv): plots/<param>.png, the
metric against each param (mean ± std over seeds); plots/curves.png, every trial's
validation curve (a colour per point, a dash per seed); report.html, the same charts as
SVG beside the tables. sweeps/ computes and records; pages/ draws.
"""

from __future__ import annotations

from convcli.pages.sweep import write_sweep_page, write_sweep_plots
from convcli.sweeps.directory import SweepDir
from convcli.sweeps.records import PointRow
from convcli.sweeps.spec import Sweep


def write_outputs(folder: SweepDir, sweep: Sweep, points: list[PointRow], best: PointRow | None) -> None:
    """plots/ and report.html of `folder`. `sweep`, `points` and `best` are in its files
    already (sweep.yaml, points.csv), which the pages read, so a page needs no study."""
    write_sweep_plots(folder.path)
    write_sweep_page(folder.path)
