"""Pages and plots: every HTML page convcli writes and the figures they embed.

parts.py (the style and pieces every page shares), charts.py (line charts as inline SVG),
curves.py (a run's metrics.csv as charts), gallery.py (a run's Grad-CAM pictures),
plots.py (the PNG figures, matplotlib only), and one module per page: run.py, sweep.py,
demo.py, index.py. Each module has its own level in docs/architecture.md; nothing is
re-exported here, so importing one page loads no other.
"""
