"""Every table the CLI prints, at 80 and 120 columns: no cell cut with "…", every name whole.

80 columns is the default terminal and every pipe. Names here are long on purpose: a run
of a 40-character config name, a class and a layer of about 40 characters. `--json` of
`convcli runs` and `convcli runs show` is checked here too.
"""

from __future__ import annotations

import io
import json
import shutil

import pytest
from rich.console import Console

from tests.conftest import invoke
from tests.test_sweeps import standin, write_sweep  # noqa: F401 - standin is a fixture

WIDTHS = (80, 120)
LONG_RUN = "an_experiment_config_name_of_forty_chars"
RUN = f"2026-11-30_07-43-55_{LONG_RUN}"
OTHER = "2026-11-30_08-00-00_scratch"
LONG_CLASS = "star4_with_a_rather_long_class_name_xyzw"  # after star4, before star6
LONG_LAYER = "a_convolution_with_a_rather_long_name_32"
LONG_SWEEP = "a_sweep_over_learning_rates_of_40_chars"


def assert_whole(output: str, width: int, names) -> None:
    """Nothing cut (rich cuts what is wider than the terminal with "…"), each name whole on
    one line. (Messages such as `run directory: PATH` run on, whole, for the terminal to wrap.)"""
    lines = output.splitlines()
    assert "…" not in output, output
    for name in names:
        assert any(name in line for line in lines), f"{name!r} is not whole on one line:\n{output}"


@pytest.fixture(scope="module")
def long_names(tmp_path_factory, trained_run, tiny_data):
    """Two runs (one of a 40-character name) whose classes are star4_with_... and star6,
    and their test images under those class names."""
    root = tmp_path_factory.mktemp("long")
    for name in (RUN, OTHER):
        shutil.copytree(trained_run, root / "runs" / name)
        meta_path = root / "runs" / name / "meta.json"
        meta = json.loads(meta_path.read_text())
        meta["class_names"] = [LONG_CLASS if c == "star4" else c for c in meta["class_names"]]
        meta_path.write_text(json.dumps(meta))
    shutil.copytree(tiny_data / "test", root / "data" / "test")
    (root / "data" / "test" / "star4").rename(root / "data" / "test" / LONG_CLASS)
    return root


@pytest.fixture(params=WIDTHS)
def width(request, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(request.param))
    return request.param


def shown(*args) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_runs_list_show_compare_and_summary(long_names, width):
    runs = long_names / "runs"
    assert_whole(shown("runs", "--runs-dir", runs), width, [LONG_RUN, "scratch", "completed"])
    assert_whole(shown("runs", "show", RUN, "--runs-dir", runs), width,
                 [RUN, "checkpoints/best.keras", "test acc"])
    assert_whole(shown("runs", "compare", RUN, OTHER, "--runs-dir", runs), width, [LONG_RUN, "val acc"])
    assert_whole(shown("summary", RUN, "--runs-dir", runs), width, ["predictions", "flatten", "(None, 1)"])


def test_evaluate_predict_and_gradcam(long_names, width, tmp_path):
    runs, test = long_names / "runs", long_names / "data" / "test"
    assert_whole(shown("evaluate", RUN, "--data", test, "--runs-dir", runs), width,
                 [LONG_CLASS, "star6", "confusion matrix"])
    predicted = shown("predict", test / LONG_CLASS, test / "star6", "--run", RUN, "--runs-dir", runs)
    assert_whole(predicted, width, [LONG_CLASS, "star6", f"{LONG_CLASS}/star4_0000.jpg"])
    images = sorted((test / LONG_CLASS).iterdir())[:2]
    explained = shown("gradcam", *images, "--run", RUN, "--runs-dir", runs, "--out", tmp_path / "cam")
    assert_whole(explained, width, [LONG_CLASS, images[0].name])


def test_a_layer_table_keeps_long_layer_names_and_shapes_whole(tmp_path, width):
    import keras

    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(4, 3, name=LONG_LAYER)(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="global_average_pooling_of_its_features")(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="predictions")(x))
    model.save(tmp_path / "model.keras")
    output = shown("summary", tmp_path / "model.keras")
    shape = "(None, 30, 30, 4)" if "(None, 30, 30, 4)" in output else "(30, 30, 4)"
    assert_whole(output, width, [LONG_LAYER, "global_average_pooling_of_its_features", shape, "112"])


def test_data_check_split_and_init(long_names, width, tmp_path):
    test = long_names / "data" / "test"
    assert_whole(shown("data", "check", test), width, [LONG_CLASS, "star6", "ready to train"])
    assert_whole(shown("data", "split", test, tmp_path / "split", "--copy"), width, [LONG_CLASS])
    assert_whole(shown("init", tmp_path / "split", "--out", tmp_path / "config.yaml"), width, [LONG_CLASS])


def test_sweep_tables_and_json(standin, width):  # noqa: F811 - the fixture, imported
    path = write_sweep(standin, name=LONG_SWEEP, params={"train.learning_rate": [1e-4, 1e-3]}, seeds=1)
    assert_whole(shown("sweep", path), width, ["learning_rate", "completed"])
    listing = shown("runs")
    (folder,) = (standin / "runs" / "sweeps").iterdir()
    assert_whole(listing, width, [folder.name, "2/2"])
    assert_whole(shown("runs", "show", LONG_SWEEP), width, ["learning_rate", "completed"])
    record = json.loads(shown("runs", "--json"))
    assert record["runs"] == [] and [s["name"] for s in record["sweeps"]] == [folder.name]
    points = json.loads(shown("runs", "show", LONG_SWEEP, "--json"))
    assert [p["status"] for p in points["points"]] == ["completed", "completed"]
    assert points["best_point"] in [p["point"] for p in points["points"]]
    assert points["metric"] == "val_accuracy"


def test_runs_json_is_json_and_nothing_else(long_names):
    runs = long_names / "runs"
    listing = json.loads(shown("runs", "--runs-dir", runs, "--json"))
    assert [row["name"] for row in listing["runs"]] == [RUN, OTHER] and listing["sweeps"] == []
    assert listing["runs"][0]["status"] == "completed" and 0 <= listing["runs"][0]["val_accuracy"] <= 1
    run = json.loads(shown("runs", "show", RUN, "--runs-dir", runs, "--json"))
    assert run["name"] == RUN and run["meta"]["class_names"] == [LONG_CLASS, "star6"]
    assert run["summary"]["best_epoch"] >= 1 and run["config"]["stage"] == "scratch"
    assert "checkpoints/best.keras" in [f["file"] for f in run["files"]]


def rendered(renderable, width: int) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(renderable)
    return buffer.getvalue()


@pytest.mark.parametrize("width", WIDTHS)
def test_export_check_and_demo_tables(width):
    from convcli.exporting.agreement import check_table
    from convcli.exporting.record import Check
    from convcli.run_tables import demo_table, seeded_demo_table

    check = Check(split="test", images=24, runtime="onnxruntime 1.32.0", top1_agreement=1.0,
                  max_abs_difference=3.1e-7, accuracy_keras=0.9583, accuracy_export=0.9583,
                  size_bytes_keras=1_340_000, size_bytes=1_290_000, latency_ms_keras=21.37,
                  latency_ms=0.41, rule="", failures=[], passed=True)
    assert_whole(rendered(check_table(check, "saved_model", "float16"), width), width,
                 ["saved_model float16", "95.83%", "1.34 MB", "0.41 ms"])
    rows = [{"stage": stage, "book": book, "val_accuracy": 0.951, "test_accuracy": 0.948, "seconds": 754}
            for stage, book in (("scratch", 71), ("augment", 82), ("extract", 90), ("fine-tune", 97))]
    assert_whole(rendered(demo_table(rows, 3016), width), width, ["fine-tune", "95.1%", "12m 34s", "~97%"])
    seeded = [row | {"val_accuracy": [0.90 + i / 100, 0.92 + i / 100, 0.91 + i / 100],
                     "test_accuracy": [0.89 + i / 50, 0.91 + i / 50, 0.90 + i / 50]}
              for i, row in enumerate(rows)]
    assert_whole(rendered(seeded_demo_table(seeded, 9000, 3), width), width,
                 ["fine-tune", "+2.0 (", "2h 30m"])


def test_formats_say_each_number_one_way():
    from convcli.formats import clock, duration, metric, percent, size, timestamp

    assert (percent(0.9751), percent(None), percent(0.95832, 2)) == ("97.5%", "-", "95.83%")
    assert (duration(5), duration(65), duration(7505), duration(None)) == ("5s", "1m 05s", "2h 05m", "-")
    assert (size(512), size(13_400), size(1_340_000), size(2_100_000_000)) == (
        "512 B", "13.4 kB", "1.34 MB", "2.1 GB")
    assert (metric("val_accuracy", 0.5), metric("val_loss", 0.5), clock(3725)) == ("50.0%", "0.5000", "1:02:05")
    # report.html's facts go through metric too: shares in percent, counts whole, text as is
    assert (metric("pointing_share", 0.25), metric("images", 1200), metric("epochs", None),
            metric("stage", "augment")) == ("25.0%", "1,200", "-", "augment")
    stamp = "2026-11-30T07:43:55+01:00"
    assert (timestamp(stamp), timestamp(stamp, to_the_minute=True), timestamp(None)) == (
        "2026-11-30 07:43:55+01:00", "2026-11-30 07:43", "-")
