"""ExportRecord: export.json, what an export is and how it did against best.keras (or the
model file it was made from).

Also the options an export takes (format and quantization), checked here, before any
model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ValidationError

from convcli.errors import ModelError, RunError
from convcli.models.saved import EXPORT_SUFFIXES
from convcli.safeyaml import load_json

FORMATS = ("saved_model", "litert", "onnx")
QUANTIZATIONS = ("none", "float16", "dynamic-int8", "int8")
# What each format can take: SavedModel and ONNX stay float32.
FORMAT_QUANTIZATIONS = {"saved_model": ("none",), "litert": QUANTIZATIONS, "onnx": ("none",)}
MODEL_FILES = {"saved_model": ".", "litert": "model.tflite", "onnx": "model.onnx"}
RECORD_NAME = "export.json"
INPUT_NAME, OUTPUT_NAME = "images", "probabilities"


class Check(BaseModel):
    """The export against best.keras on one split, batch 1 latency, and the verdict."""

    split: str
    images: int
    runtime: str  # e.g. "onnxruntime 1.32.0"
    top1_agreement: float  # share of images whose most probable class is the same
    max_abs_difference: float  # largest |p_export - p_keras| over images and classes
    accuracy_keras: float
    accuracy_export: float
    size_bytes_keras: int
    size_bytes: int
    latency_ms_keras: float  # median per image at batch 1
    latency_ms: float
    rule: str  # what the export had to meet
    failures: list[str]  # what it did not meet; empty when it passed
    passed: bool


class ExportRecord(BaseModel):
    """export.json, written beside the exported model (inside a SavedModel folder)."""

    version: Literal[1] = 1
    format: Literal["saved_model", "litert", "onnx"]
    quantize: Literal["none", "float16", "dynamic-int8", "int8"]
    model: str  # the model's path relative to this file's folder ("." for a SavedModel)
    input_name: str = INPUT_NAME
    input_shape: list[Optional[int]]  # [None, height, width, 3 or 1]: raw [0, 255] pixels
    input_dtype: str = "float32"
    output_name: str = OUTPUT_NAME
    output_shape: list[Optional[int]]  # [None, number of classes]: probabilities
    class_names: list[str]
    source_run: Optional[str]  # None: exported from a model file (`export --model`)
    source_checkpoint: str  # the Keras file exported
    created: str
    versions: dict[str, Optional[str]]
    check: Check
    # A mixed-precision run's policy (e.g. mixed_bfloat16): its best.keras computes in 16
    # bits; the export, and best.keras in the check, compute in float32 with its weights.
    source_dtype_policy: Optional[str] = None

    @property
    def image_size(self) -> tuple[int, int]:
        return self.input_shape[1], self.input_shape[2]

    @property
    def channels(self) -> int:
        """3 (colour) or 1 (a grayscale model)."""
        return self.input_shape[3]


def check_options(format: str, quantize: str) -> None:
    """A RunError for a format or quantization convcli cannot export."""
    if format not in FORMATS:
        hint = " (LiteRT is the .tflite format)" if format in ("tflite", "tf_lite", "tensorflow_lite") else ""
        raise RunError(f"--format {format!r} is not a format convcli exports; choose saved_model, "
                       f"litert or onnx{hint}")
    if quantize not in QUANTIZATIONS:
        raise RunError(f"--quantize {quantize!r} is not a quantization convcli knows; choose none, "
                       "float16, dynamic-int8 or int8")
    if quantize not in FORMAT_QUANTIZATIONS[format]:
        raise RunError(f"--quantize {quantize} cannot be applied to --format {format}, which exports "
                       "float32 only; quantized exports are --format litert")


def default_folder(format: str, quantize: str) -> str:
    """export/<format>[-<quantize>] inside the run."""
    return format if quantize == "none" else f"{format}-{quantize}"


def read_record(path: Path) -> ExportRecord:
    """export.json at `path`, parsed; a ModelError if it is missing or not one."""
    try:
        return ExportRecord.model_validate(load_json(path.read_text()))
    except FileNotFoundError:
        raise ModelError(f"no {RECORD_NAME} at {path}; convcli reads exported models with the "
                         "export.json that `convcli export` writes beside them") from None
    except (OSError, ValueError, ValidationError) as error:
        detail = str(error).splitlines()[0]
        raise ModelError(f"{path} is not an export record convcli can read ({detail}); export the "
                         "run again with `convcli export`") from None


def locate(path: Path) -> tuple[ExportRecord, Path]:
    """(record, model path) for what a user calls an exported model: a .tflite or .onnx
    file, a SavedModel folder, or any export folder, each with export.json beside it."""
    if not path.exists():
        raise ModelError(f"model {path} does not exist")
    if path.is_dir():
        record = read_record(path / RECORD_NAME)
        return record, path / record.model
    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise ModelError(f"{path} is not an exported model: convcli reads .tflite and .onnx files "
                         "and SavedModel folders written by `convcli export`")
    record = read_record(path.parent / RECORD_NAME)
    if Path(MODEL_FILES[record.format]).suffix != path.suffix.lower():
        raise ModelError(f"{path.parent / RECORD_NAME} describes a {record.format} export, not "
                         f"{path.name}; keep each exported model in its own folder with its export.json")
    return record, path
