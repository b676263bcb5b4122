"""convcli: an experiment runner for convolutional networks on small image datasets."""

__version__ = "0.1.0"
