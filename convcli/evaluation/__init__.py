"""Evaluation: the numbers of a model on labelled images (scores.py), `convcli evaluate`
on a run or a model file (evaluator.py), test-time augmentation's views (tta.py), and
what a person sees of it (display.py).
The names below are the package's interface."""

from convcli.evaluation.display import class_table, confusion_table, tta_table, write_confusion_png
from convcli.evaluation.evaluator import evaluate_model_file, evaluate_run, labelled_for_model
from convcli.evaluation.scores import Evaluation, class_probabilities, evaluate

__all__ = [
    "Evaluation", "class_probabilities", "class_table", "confusion_table", "evaluate",
    "evaluate_model_file", "evaluate_run", "labelled_for_model", "tta_table", "write_confusion_png",
]
