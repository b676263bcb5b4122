"""Sweeps: many ordinary convcli runs from one sweep file, and statistics over them.

spec (the sweep file and its points) <- study (the Optuna ledger) and trial (one
`convcli train` process) <- records (trials.csv, points.csv, best.yaml) <- outputs (plots,
report.html) <- runner (the scheduling loop). Nothing here imports TensorFlow.
"""
