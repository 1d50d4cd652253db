"""metarl_lite.checkpoint: atomic writes, safe loads, clear errors."""

import os
import pickle

import numpy as np
import pytest
import torch

from metarl_lite import checkpoint
from metarl_lite.checkpoint import CheckpointError


def _state():
    rng = np.random.default_rng(7)
    rng.uniform(size=3)
    params = {"0.weight": torch.randn(4, 1), "0.bias": torch.randn(4)}
    optimizer = torch.optim.Adam(params.values())
    return {"params": params, "optimizer": optimizer.state_dict(), "rng": checkpoint.numpy_rng_state(rng),
            "torch_rng": torch.get_rng_state(), "iteration": 12}


def test_roundtrip_restores_tensors_and_rng_stream(tmp_path):
    state = _state()
    checkpoint.save(tmp_path / "c.pt", state)
    loaded = checkpoint.load(tmp_path / "c.pt")
    assert torch.equal(loaded["params"]["0.weight"], state["params"]["0.weight"])
    assert loaded["iteration"] == 12
    original = np.random.default_rng(7)
    original.uniform(size=3)
    assert checkpoint.restore_numpy_rng(loaded["rng"]).uniform() == original.uniform()


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    checkpoint.save(path, {"iteration": 1})

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        checkpoint.save(path, {"iteration": 2})
    assert checkpoint.load(path)["iteration"] == 1
    assert sorted(os.listdir(tmp_path)) == ["c.pt"]  # no temporary file left behind


def test_truncated_checkpoint_gives_clear_error(tmp_path):
    path = tmp_path / "c.pt"
    checkpoint.save(path, _state())
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        checkpoint.load(path)


def test_foreign_file_gives_clear_error(tmp_path):
    path = tmp_path / "c.pt"
    torch.save({"weights": torch.ones(2)}, path)
    with pytest.raises(CheckpointError, match="not a metarl-lite checkpoint"):
        checkpoint.load(path)


def test_missing_checkpoint_names_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match="metarl-lite train"):
        checkpoint.load(tmp_path / "none.pt")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_load_never_executes_arbitrary_pickle(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with path.open("wb") as f:
        pickle.dump({"format": checkpoint.FORMAT, "version": 1, "x": _Exploit()}, f)
    with pytest.raises(CheckpointError):
        checkpoint.load(path)
    assert not (tmp_path / "pwned").exists()
