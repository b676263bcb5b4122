"""pages/curves.py and the curve drawings of the sweep and demo pages: the learning rate per
epoch where it changes, and a metrics.csv column left empty (training accuracy under mixup or
cutmix, not measured) drawn as nothing, with the page saying why."""

import json

import pytest
from test_page_run import Page, completed_run

from convcli.pages.demo import band
from convcli.pages.plots import write_curves
from convcli.pages.run import write_page
from convcli.pages.sweep_charts import curve_series
from convcli.pages.charts import Series, line_chart

HEADER = "epoch,phase,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds\n"
MIXED = "training accuracy is not shown: mixup/cutmix mixes the labels"


def charts(text: str) -> dict[str, str]:
    """Each chart of a page by its title: the HTML of its <figure>."""
    figures = text.split('<figure class="chart">')[1:]
    return {figure.split('role="img" aria-label="', 1)[1].split('"', 1)[0]: figure.split("</figure>", 1)[0]
            for figure in figures}


def mixed_run(tmp_path, augment: str, rates=(0.001, 0.0008, 0.0005, 0.0002)):
    """A run as the trainer writes one under mixup or cutmix: the accuracy column empty at
    every epoch, the learning rate following a schedule."""
    run = completed_run(tmp_path)
    run.config.write_text(f"name: mix\nstage: augment\naugment:\n{augment}train:\n  epochs: 4\n")
    summary = json.loads(run.summary.read_text())
    for which in ("best", "final"):
        summary[which]["accuracy"] = None
    run.summary.write_text(json.dumps(summary))
    run.meta.write_text(json.dumps(json.loads(run.meta.read_text()) | {"stage": "augment"}))
    run.metrics.write_text(HEADER + "".join(f"{e},train,0.{9 - e},,0.{8 - e},0.{4 + e},{rate},12.5\n"
                                            for e, rate in enumerate(rates, 1)))
    return run


@pytest.mark.parametrize("augment", ["  mixup: 0.2\n", "  cutmix: 1.0\n", "  cutmix: {alpha: 1.0}\n"])
def test_under_mixup_or_cutmix_the_accuracy_chart_is_validation_only_and_says_why(tmp_path, augment):
    text = write_page(mixed_run(tmp_path, augment)).read_text()
    accuracy = charts(text)["accuracy"]
    legend = " ".join(Page(accuracy.split('<ul class="legend">', 1)[1].split("</ul>", 1)[0]).text)
    assert "validation" in legend and "training" not in legend
    assert f'<figcaption class="note">{MIXED}</figcaption>' in accuracy  # one line under the chart
    assert "training" in " ".join(Page(charts(text)["loss"]).text)  # the loss was measured: drawn
    assert text.count(MIXED) == 1
    # metrics.csv's table says "-" where nothing was measured, never a blank or 0.0%
    assert "<td>1</td><td>train</td><td>0.8000</td><td>-</td>" in text


def test_an_empty_accuracy_column_without_mixup_is_not_recorded_and_an_absent_one_too(tmp_path):
    text = write_page(mixed_run(tmp_path / "a", "  horizontal_flip: true\n")).read_text()
    assert "training accuracy not recorded" in charts(text)["accuracy"] and MIXED not in text
    run = completed_run(tmp_path / "b")
    run.metrics.write_text("epoch,phase,loss,val_loss,val_accuracy\n1,train,0.9,0.8,0.5\n2,train,0.8,0.7,0.6\n")
    text = write_page(run).read_text()
    assert "training accuracy not recorded" in charts(text)["accuracy"]


def test_a_learning_rate_that_changes_gets_a_chart_of_every_epochs_value(tmp_path):
    text = write_page(mixed_run(tmp_path / "a", "  mixup: 0.2\n")).read_text()
    rate = charts(text)["learning rate"]
    assert rate.split("</svg>", 1)[0].count("<circle") == 4  # a dot per epoch
    # within a decade the axis is linear, its ticks round values where they stand
    assert ["2e-4", "4e-4", "6e-4", "8e-4", "0.001"] == Page(rate).text[1:6]
    assert "at every epoch" not in text
    text = write_page(mixed_run(tmp_path / "b", "", rates=(1e-3, 1e-4, 1e-5, 1e-6))).read_text()
    assert ["1e-6", "1e-5", "1e-4", "0.001"] == Page(charts(text)["learning rate"]).text[1:5]  # a decade a tick


def test_a_constant_learning_rate_is_a_sentence_and_an_older_run_without_the_column_still_gets_its_page(tmp_path):
    text = write_page(completed_run(tmp_path / "a")).read_text()  # 0.001 at all four epochs
    assert "learning rate" not in charts(text)
    assert "learning rate 0.001 at every epoch (no chart: it never changed)" in " ".join(Page(text).text)
    run = completed_run(tmp_path / "b")
    run.metrics.write_text("epoch,phase,loss,accuracy,val_loss,val_accuracy,seconds\n"
                           "1,train,0.9,0.5,0.8,0.5,1\n2,train,0.8,0.6,0.7,0.6,1\n")
    text = write_page(run).read_text()
    assert set(charts(text)) == {"accuracy", "loss"} and "at every epoch" not in text


def test_curves_png_leaves_out_an_empty_training_accuracy(tmp_path):
    run = mixed_run(tmp_path, "  mixup: 0.2\n")
    write_curves(run.metrics, run.curves, "mix")
    assert run.curves.read_bytes().startswith(b"\x89PNG")


def test_sweep_and_demo_curves_break_at_an_empty_cell_instead_of_failing(tmp_path):
    sweep = tmp_path / "sweep"
    trials = []
    for seed, cells in ((1, ["0.5", "", "0.7"]), (2, ["", "", ""])):
        run = sweep / "trials" / f"2026-01-02_04-00-0{seed}_lr-p1-s{seed}"
        run.mkdir(parents=True)
        (run / "metrics.csv").write_text(HEADER + "".join(f"{e},train,0.5,,0.5,{cell},0.001,1\n"
                                                          for e, cell in enumerate(cells, 1)))
        trials.append({"point": "1", "seed": str(seed), "run": str(run), "status": "completed"})
    series = curve_series(sweep, trials, [], "val_accuracy", {})
    assert len(series) == 1 and series[0].points == [(1, 0.5), (2, None), (3, 0.7)]  # seed 2: nothing to draw
    svg = line_chart("every trial", series, "epoch", "val_accuracy", percent=True)
    assert svg.count("<circle") == 2  # two lone values, drawn as dots, not a line across the gap
    means, spread = band([[0.5, "", 0.7], [0.6, None, 0.8]])
    assert [epoch for epoch, _ in means] == [1, 3]
    assert means[0][1] == pytest.approx(0.55) and spread[1][1:] == pytest.approx((0.75 - 0.0707, 0.75 + 0.0707),
                                                                                abs=1e-4)


def test_a_swept_key_of_many_values_labels_every_nth_so_the_names_do_not_overlap():
    names = [f"0.{200 + 17 * i}" for i in range(20)]  # a random search's 20 dropout draws, in order
    series = [Series("", [(i, 0.5)], line=False, dots=True) for i in range(20)]
    labels = Page(line_chart("val_accuracy against model.dropout", series, "model.dropout", "val_accuracy",
                             x_names=names)).text
    shown = [name for name in names if name in labels]
    assert shown[0] == names[0] and 5 <= len(shown) <= 8  # ticks at 0, 3, 6, ...: at most 8 across
