"""The bounded YAML reader: what it refuses, how little it reads first, and that it still
reads real configs.

"Refused quickly" is asserted as work, not time: how many nodes the loader composed and
how far into the document it read before refusing. Both are deterministic, where CPU
time on a shared 2-core machine is not (timings belong in benchmarks/).
"""

import pytest
import yaml

from convcli import safeyaml
from convcli.config import apply_override, load_config, read_yaml
from convcli.errors import ConfigError
from tests.test_bad_input import LAUGHS


@pytest.fixture
def composed(monkeypatch):
    """A list that counts the nodes the bounded loader composes."""
    calls = []
    compose = safeyaml.BoundedLoader.compose_node

    def counting(self, parent, index):
        calls.append(index)
        return compose(self, parent, index)

    monkeypatch.setattr(safeyaml.BoundedLoader, "compose_node", counting)
    return calls


def test_the_billion_laughs_is_refused_before_anything_is_expanded(tmp_path, composed):
    path = tmp_path / "lol.yaml"
    path.write_text(LAUGHS)
    assert len(LAUGHS.encode()) < 400
    with pytest.raises(ConfigError, match="once its aliases are expanded"):
        read_yaml(path)
    # Each alias is counted by the size of what it names, never composed again: a
    # loader that expanded them would compose billions of nodes.
    assert len(composed) < 100


@pytest.mark.parametrize("text", [
    "a: [" + ", ".join(f"[{', '.join(['1'] * 900)}]" for _ in range(200)) + "]\n",  # 180k values
    "".join(f"k{i}:\n  - 1\n  - 2\n" for i in range(14_000)),                          # 14k keys
])
def test_a_large_document_is_refused_as_soon_as_it_passes_the_limit(text, composed):
    text = text[:safeyaml.MAX_BYTES]
    with pytest.raises(safeyaml.LimitError, match="more than 10,000 values") as refused:
        safeyaml.load(text)
    # Refused at the 10,001st value, a fifth of the way in, without reading the rest.
    assert len(composed) <= safeyaml.MAX_VALUES + safeyaml.MAX_DEPTH
    assert refused.value.problem_mark.index < len(text) / 5


def test_a_file_of_any_size_is_read_no_further_than_the_limit(tmp_path, monkeypatch):
    reads = []
    real_open = open

    class Endless:  # a file that never ends, like /dev/zero
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, size=-1):
            reads.append(size)
            assert size > 0, "read without a bound"
            return b"#" * size

    monkeypatch.setattr("builtins.open", lambda path, mode="r", *a, **k:
                        Endless() if str(path).endswith("endless.yaml") else real_open(path, mode, *a, **k))
    with pytest.raises(ConfigError, match="is larger than 256 KiB"):
        read_yaml(tmp_path / "endless.yaml")
    assert reads == [safeyaml.MAX_BYTES + 1]


def test_merge_keys_may_repeat_a_key_but_a_mapping_may_not(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("base: &base {epochs: 3, optimizer: adam}\ntrain:\n  <<: *base\n  epochs: 5\n")
    assert read_yaml(path)["train"] == {"epochs": 5, "optimizer": "adam"}
    path.write_text("stage: scratch\ntrain:\n  epochs: 3\n  optimizer: adam\n  epochs: 5\n")
    with pytest.raises(ConfigError, match=r"merge.yaml:5:3: .*'epochs' is written twice in one "
                                          r"mapping, at lines 3 and 5"):
        read_yaml(path)


def test_numbers_within_the_limit_read_as_yaml_reads_them():
    text = "a: 1.5e-5\nb: 123456789012345678901234567890\nc: 0x1F\nd: -7\ne: 1e-5\n"
    assert safeyaml.load(text) == yaml.safe_load(text)


def test_set_values_are_read_by_the_same_bounded_reader():
    raw = {}
    with pytest.raises(ConfigError, match="not valid YAML"):
        apply_override(raw, "name=" + "[" * 1000 + "]" * 1000)
    apply_override(raw, "data.image_size=[32, 32]")
    assert raw == {"data": {"image_size": [32, 32]}}


def test_every_shipped_config_reads_within_the_limits():
    from pathlib import Path

    from convcli.sweeps.spec import load_sweep

    configs = sorted(Path(__file__).parents[1].glob("configs/**/*.yaml"))
    assert len(configs) >= 12
    for path in configs:
        (load_sweep if path.parent.name == "sweeps" else load_config)(path)
