"""`python -m convcli` runs the command line."""

from convcli.cli import app

app(prog_name="convcli")
