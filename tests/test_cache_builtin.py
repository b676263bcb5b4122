"""`convcli cache prune --all` keeps the built-in data and base while a run reads them:
the process that opens them holds their lock until it ends (issue 28, part 3)."""

import os
import subprocess
import sys

from conftest import invoke

# Opens the built-in data (its generator replaced by a stand-in that writes one file:
# the real one draws thousands of images) and the built-in base, then waits for stdin.
READER = """
import sys
from pathlib import Path
from convcli.data import synthetic
from convcli import pretraining

def generate(path, task):
    path.mkdir(parents=True)
    (path / "dataset.json").write_text("{}")

synthetic.generate = generate
root = Path(sys.argv[1])
print(synthetic.builtin_dataset(root), pretraining.builtin_weights(), flush=True)
sys.stdin.read()
"""


def test_prune_all_keeps_the_builtin_data_and_base_a_run_reads(tmp_path, monkeypatch):
    from convcli.models.pretrained import build_builtin_base
    from convcli.pretraining import weights_path

    root = tmp_path / "cache"
    monkeypatch.setenv("CONVCLI_CACHE", str(root))
    weights = weights_path()
    weights.parent.mkdir(parents=True)
    build_builtin_base().save_weights(weights)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(root)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "CONVCLI_CACHE": str(root)})
    try:
        data, base = reader.stdout.readline().split()
        assert base == str(weights)
        result = invoke("cache", "prune", "--all")
        assert result.exit_code == 0, result.output
        assert "in use kept" in result.stdout
        assert (root / "data").is_dir() and any((root / "data").iterdir())
        assert os.path.isfile(data + "/dataset.json") and weights.is_file()
    finally:
        reader.communicate("")
    assert reader.returncode == 0
    # The reader gone, nothing holds them.
    assert invoke("cache", "prune", "--all").exit_code == 0
    assert not os.path.exists(data) and not weights.exists()
