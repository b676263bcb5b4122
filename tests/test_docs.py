"""The docs come from the code and stay true: every config key described, generated pages
fresh, links that lead somewhere, no pointer to a file outside the repository."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Optional

import pytest
from pydantic import BaseModel, Field

from convcli.config import Config
from convcli.sweeps.spec import SweepFile

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


@pytest.fixture(scope="module")
def gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def undescribed(model: type[BaseModel]) -> list[str]:
    """Keys of `model`'s JSON Schema (what `convcli schema` gives editors) with no description."""
    schema = model.model_json_schema()
    objects = [("", schema), *schema.get("$defs", {}).items()]
    return [f"{name}.{key}".lstrip(".") for name, node in objects
            for key, field in node.get("properties", {}).items() if not field.get("description")]


def test_undescribed_finds_a_key_without_description():
    class Half(BaseModel):
        described: int = Field(1, description="one")
        bare: Optional[int] = None

    assert undescribed(Half) == ["bare"]


@pytest.mark.parametrize("model", [Config, SweepFile])
def test_every_key_has_a_description(model):
    assert undescribed(model) == [], f"add description= to these fields of {model.__name__}"


def test_generated_docs_are_fresh(gen_docs):
    stale = [str(path.relative_to(ROOT)) for path in gen_docs.stale()]
    assert not stale, f"{', '.join(stale)} out of date: run `python scripts/gen_docs.py` and commit"


def test_config_doc_lists_every_key(gen_docs):
    from convcli.config import key_paths

    text = gen_docs.config_doc()
    missing = [key for key in key_paths() if f"| `{key}` |" not in text]
    assert missing == []
    assert "| `pruning.grace_epochs` | integer (>= 1) | `5` |" in text


def test_commands_doc_is_plain_help_at_80_columns(gen_docs):
    text = gen_docs.commands_doc()
    blocks = re.findall(r"```\n(.*?)\n```", text, flags=re.S)
    assert len(blocks) == 1 + len(gen_docs.command_paths(gen_docs.typer.main.get_command(gen_docs.app)))
    for block in blocks:
        assert "\x1b" not in block
        assert max(len(line) for line in block.splitlines()) <= 80
    assert "Usage: convcli data split [OPTIONS]" in text


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_links_lead_to_files_and_headings_in_the_repository():
    broken = []
    for page in markdown_files():
        for target, anchor in LINK.findall(page.read_text(encoding="utf-8")):
            path = page.parent / target
            if "://" in target:
                continue
            if not path.exists() or (anchor and path.suffix == ".md" and anchor[1:] not in anchors(path)):
                broken.append(f"{page.relative_to(ROOT)}: {target}{anchor}")
    assert broken == []


def test_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.encode()) <= 12 * 1024
    assert "pip install -e . && convcli train configs/finetune.yaml" in text
    assert 'pip install -e ".[test]" && python -m pytest' in text
    for picture in ("docs/images/curves.png", "docs/images/gradcam.png"):
        assert picture in text and (ROOT / picture).stat().st_size < 200 * 1024


def test_no_comment_points_outside_the_repository():
    cited = []
    for folder in ("convcli", "tests", "benchmarks", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if re.search(r"\b(design|keras-notes)\.md", line) and path.name != "test_docs.py":
                    cited.append(f"{path.relative_to(ROOT)}:{number}")
    assert cited == [], "point at a file in docs/ instead"
