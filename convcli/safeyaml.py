"""A bounded YAML loader: PyYAML's safe loader with limits on what a document expands to.

Configs and sweep files get shared and downloaded, so one from elsewhere is untrusted.
PyYAML's `safe_load` runs no code, but a 300-byte document whose aliases refer to
aliases ("billion laughs") stands for billions of values: read as plain dicts and lists,
it kept `convcli train` busy past 90 s at 4.8 GB (Kubernetes had the same hole,
CVE-2019-11253). Here every node's size counts its aliases expanded, and the loader
refuses a document past any of the LIMITS as it composes it, before building a single
Python object; deep nesting, long numbers and a key written twice in one mapping
(PyYAML keeps the last without a word) are refused too. Every refusal is a
`LimitError`, a `yaml.MarkedYAMLError` that points at the line and column.

JSON, a subset of YAML, is read by `load_json` (`read_json`: a file's object, or {}):
the JSON files convcli reads back (meta.json, summary.json, export.json) may come from
elsewhere too, and Python's parser meets a deep enough nesting with a RecursionError
instead of its ValueError.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, ScalarNode

MAX_BYTES = 256 * 1024  # a config is a few kB; a sweep with an inline config a few more
MAX_VALUES = 10_000  # scalars, lists and mappings in a document, aliases expanded
MAX_DEPTH = 32  # lists and mappings inside one another
MAX_ITEMS = 1_000  # entries in one list or mapping
MAX_NUMBER_CHARS = 40  # characters in one int or float (Python refuses ints past 4300 digits)


class LimitError(yaml.MarkedYAMLError):
    """The document goes past a limit, or writes a key twice; the mark says where."""

    def __init__(self, problem: str, mark):
        super().__init__(problem=problem, problem_mark=mark)


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts what it composes and refuses past the limits."""

    def __init__(self, stream):
        super().__init__(stream)
        self.depth = 0
        self.values, self.aliases = 0, 0  # values composed so far, aliases expanded
        self.sizes: dict[int, int] = {}  # id(node) -> values in it, aliases expanded

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            node = super().compose_node(parent, index)
            if id(node) not in self.sizes:  # the anchored node is still being composed
                raise LimitError(f"alias *{event.anchor} refers to a node that contains it: a "
                                 "structure without end", event.start_mark)
            self.aliases += 1
            self._count(self.sizes[id(node)], event.start_mark)
            return node
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LimitError(f"lists and mappings nest more than {MAX_DEPTH} deep", event.start_mark)
        node = super().compose_node(parent, index)
        self.depth -= 1
        self.sizes[id(node)] = self._size(node)
        self._count(1, node.start_mark)
        return node

    def _count(self, values: int, mark) -> None:
        """Add values to the document's running total; LimitError past MAX_VALUES."""
        self.values += values
        if self.values > MAX_VALUES:
            expanded = " once its aliases are expanded (a \"billion laughs\" file?)" if self.aliases else ""
            raise LimitError(f"the document stands for more than {MAX_VALUES:,} values{expanded}; "
                             "convcli reads no more", mark)

    def _size(self, node) -> int:
        """The values in a complete node, aliases expanded; LimitError past MAX_ITEMS."""
        if isinstance(node, ScalarNode):
            return 1
        if len(node.value) > MAX_ITEMS:
            raise LimitError(f"a list or mapping of {len(node.value):,} entries; at most "
                             f"{MAX_ITEMS:,} are read", node.start_mark)
        if isinstance(node, MappingNode):
            _check_unique_keys(node)
            children = [part for pair in node.value for part in pair]
        else:
            children = node.value
        return 1 + sum(self.sizes[id(child)] for child in children)

    def construct_number(self, node):
        if len(node.value) > MAX_NUMBER_CHARS:
            raise LimitError(f"a number of {len(node.value):,} characters; numbers have at most "
                             f"{MAX_NUMBER_CHARS}", node.start_mark)
        constructors = {"tag:yaml.org,2002:int": yaml.SafeLoader.construct_yaml_int,
                        "tag:yaml.org,2002:float": yaml.SafeLoader.construct_yaml_float}
        return constructors[node.tag](self, node)


BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_number)
BoundedLoader.add_constructor("tag:yaml.org,2002:float", BoundedLoader.construct_number)


def _check_unique_keys(node: MappingNode) -> None:
    """LimitError for a key written twice in one mapping (merged `<<` keys may repeat)."""
    first: dict[tuple, object] = {}
    for key, _ in node.value:
        if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        seen = first.setdefault((key.tag, key.value), key.start_mark)
        if seen is not key.start_mark:
            raise LimitError(f"key {key.value!r} is written twice in one mapping, at lines "
                             f"{seen.line + 1} and {key.start_mark.line + 1}; keep one (PyYAML "
                             "would silently keep the last)", key.start_mark)


def load(text: str):
    """The document in `text`, read safely within the limits; yaml.YAMLError if not."""
    if len(text) > MAX_BYTES:
        raise yaml.YAMLError(f"the document is {len(text):,} characters long; at most "
                             f"{MAX_BYTES:,} are read")
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_json(text: str | bytes):
    """json.loads, with a nesting too deep for Python's parser a ValueError like any other
    damaged document (not a RecursionError)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("lists and objects nest too deep to read") from None


def read_json(path: Path) -> dict:
    """A JSON file's object; {} when it is missing, unreadable or not an object."""
    try:
        value = load_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
