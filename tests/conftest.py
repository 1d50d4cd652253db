"""Shared fixtures for the meta-learning tests: seeded RNGs, one torch thread, small regression helpers."""

import os
import signal
import subprocess
import sys
import time

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering, before any test module imports mujoco

import pytest  # noqa: E402
import torch  # noqa: E402

import metarl_lite  # noqa: E402
from metarl_lite.nn import mlp  # noqa: E402


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same RNG state, on one torch thread (fast and reproducible)."""
    metarl_lite.seed_everything(0)


def _mse(activation):
    def loss(params, batch):
        x, y = batch
        return ((mlp(params, x, activation) - y) ** 2).mean()

    return loss


@pytest.fixture
def mse():
    """loss_fn(params, (x, y)): mean squared error of the ReLU MLP (the library's default activation)."""
    return _mse("relu")


@pytest.fixture
def smooth_mse():
    """The same loss with tanh: smooth, for finite differences and Taylor expansions."""
    return _mse("tanh")


@pytest.fixture
def make_batch():
    """make_batch(n, d_in, d_out=1, seed=...) -> (x [n, d_in], y [n, d_out]), standard normal, float64."""

    def make(n, d_in, d_out=1, *, seed):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(n, d_in, generator=gen, dtype=torch.float64)
        return x, torch.randn(n, d_out, generator=gen, dtype=torch.float64)

    return make


@pytest.fixture
def grad_dict():
    """grad_dict(scalar, params) -> {name: d scalar / d params[name]} (plain autograd)."""

    def gradient(scalar, params):
        return dict(zip(params, torch.autograd.grad(scalar, list(params.values()))))

    return gradient


@pytest.fixture
def grad_at(grad_dict):
    """grad_at(loss_fn, params, batch) -> grad L(params; batch) as a dict, at a constant point."""

    def gradient(loss_fn, params, batch):
        point = {k: v.detach().requires_grad_() for k, v in params.items()}
        return grad_dict(loss_fn(point, batch), point)

    return gradient


@pytest.fixture
def sgd_path(grad_at):
    """sgd_path(loss_fn, params, batches, lr) -> W after one plain SGD step per batch, as constants."""

    def path(loss_fn, params, batches, lr):
        w = {k: v.detach() for k, v in params.items()}
        for batch in batches:
            w = {k: w[k] - lr * g for k, g in grad_at(loss_fn, w, batch).items()}
        return w

    return path


@pytest.fixture
def kill_and_resume(tmp_path):
    """kill_and_resume(train_args) -> (whole, split): run `metarl-lite train ARGS` to the end into
    tmp_path/whole; run it again into tmp_path/split, SIGKILL it once its first checkpoint exists,
    then `--resume` it to the end. Returns both run folders."""
    from metarl_lite import runs

    def run(args):
        cli = [sys.executable, "-m", "metarl_lite.cli", *args, "--quiet"]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        whole, split = tmp_path / "whole", tmp_path / "split"
        subprocess.run([*cli, "--out", str(whole)], check=True, env=env)
        proc = subprocess.Popen([*cli, "--out", str(split)], env=env)
        deadline = time.time() + 600
        while not (split / "checkpoint.pt").exists() and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at = int(runs.read_metrics(split)[-1]["iteration"])
        assert killed_at < int(runs.read_metrics(whole)[-1]["iteration"]), "the run finished before it was killed"
        subprocess.run([*cli, "--out", str(split), "--resume"], check=True, env=env)
        return whole, split

    return run


@pytest.fixture
def one_line_errors():
    """one_line_errors(cases): each (call, match) of ``cases`` raises a ValueError whose message
    matches the regex ``match`` and fits on one line."""

    def check(cases):
        for call, match in cases:
            with pytest.raises(ValueError, match=match) as info:
                call()
            assert "\n" not in str(info.value), str(info.value)

    return check


@pytest.fixture
def cli_error(capsys):
    """cli_error(argv) -> what `metarl-lite ARGV` printed to stderr, checked to be one line with exit code 2."""
    from metarl_lite.cli import main

    def run(argv):
        capsys.readouterr()
        assert main([str(a) for a in argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err and "\n" not in err, err
        return err

    return run
