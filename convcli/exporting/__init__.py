"""Export: a run's best model as a SavedModel, a LiteRT file or an ONNX file, checked.

record.py      export.json and the options an export takes
converters.py  the serving model and its conversion into each format
runtimes.py    an export loaded in its own runtime (TensorFlow, LiteRT, ONNX Runtime)
splits.py      the images an export is checked on and int8 is calibrated on
agreement.py   the check: an export's predictions against best.keras's, and its verdict
exporter.py    `convcli export`: all of the above into a folder written in one rename

The converters and runtimes (the `export` extra) are imported only when used.
"""
