"""Pages and plots: every HTML page convcli writes and the figures they embed.

parts.py (the style and the pieces every page shares), plots.py (the figures, matplotlib
only), run.py (a run's report.html). Each module has its own level in
docs/architecture.md; nothing is re-exported here, so importing one page loads no other.
"""
