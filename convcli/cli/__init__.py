"""The command line: parse arguments, call one domain function, print the outcome.

`convcli.cli:app` is the console script. main.py holds the app, the error boundary and
the shared options; each other module holds one group of commands, registered here in
the order `convcli --help` lists them. TensorFlow is imported only inside the commands
that need it, so `convcli --help` answers at once.
"""

import inspect

from convcli.cli import cache, configs, data, experiments, explain, model, runs, sweep
from convcli.cli.main import app, configs_app, data_app, runs_app


def summary(command) -> dict:
    """A command's first paragraph on one line, as a command list shows it (typer would
    keep the docstring's line breaks there)."""
    return {"short_help": " ".join(inspect.getdoc(command).split("\n\n")[0].split())}


app.command(epilog=experiments.BASES_HELP, **summary(experiments.train))(experiments.train)
app.command("lr-find", **summary(experiments.lr_find))(experiments.lr_find)
for command in (model.summary, explain.gradcam, explain.activations, explain.filters,
                explain.augment, model.evaluate, model.predict, model.export, experiments.pretrain,
                configs.schema, experiments.demo):
    app.command(**summary(command))(command)
app.command("sweep", **summary(sweep.sweep_command))(sweep.sweep_command)
app.command(**summary(configs.init))(configs.init)
configs_app.callback(invoke_without_command=True)(configs.configs_list)
configs_app.command("copy", **summary(configs.configs_copy))(configs.configs_copy)
runs_app.callback(invoke_without_command=True)(runs.runs_list)
runs_app.command("show", **summary(runs.runs_show))(runs.runs_show)
runs_app.command("compare", **summary(runs.runs_compare))(runs.runs_compare)
runs_app.command("push", **summary(runs.runs_push))(runs.runs_push)
data_app.command("synth", **summary(data.data_synth))(data.data_synth)
data_app.command("check", **summary(data.data_check))(data.data_check)
data_app.command("split", **summary(data.data_split))(data.data_split)
app.add_typer(cache.cache_app, name="cache")
cache.cache_app.callback(invoke_without_command=True)(cache.cache_list)
cache.cache_app.command("prune", **summary(cache.cache_prune))(cache.cache_prune)

__all__ = ["app"]
