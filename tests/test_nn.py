"""metarl_lite.nn: functional MLP parameters with torch.nn.Sequential naming."""

import math

import pytest
import torch
from torch import nn
from torch.func import grad, vmap

from metarl_lite.nn import init_mlp, mlp

SIZES = [3, 40, 20, 2]


def sequential(sizes, activation):
    """The torch.nn model that init_mlp's dict is meant to load into."""
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out, dtype=torch.float64), act()]
    return nn.Sequential(*layers[:-1])


def test_init_mlp_keys_and_shapes_follow_sequential_naming():
    params = init_mlp(SIZES, seed=0)
    expected = {}
    for layer, (fan_in, fan_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        expected[f"{2 * layer}.weight"] = (fan_out, fan_in)
        expected[f"{2 * layer}.bias"] = (fan_out,)
    assert list(params) == list(expected)
    assert {k: tuple(v.shape) for k, v in params.items()} == expected


@pytest.mark.parametrize("dtype", [None, torch.float64])
def test_init_mlp_gives_leaves_that_require_grad_float32_unless_told(dtype):
    params = init_mlp(SIZES, seed=0) if dtype is None else init_mlp(SIZES, seed=0, dtype=dtype)
    for value in params.values():
        assert value.dtype == (dtype or torch.float32)
        assert value.is_leaf and value.requires_grad


def test_init_mlp_is_deterministic_given_seed():
    first, again, other = init_mlp(SIZES, seed=3), init_mlp(SIZES, seed=3), init_mlp(SIZES, seed=4)
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert all(not torch.equal(first[k], other[k]) for k in first)


def test_init_mlp_does_not_touch_the_global_torch_rng():
    state = torch.get_rng_state()
    init_mlp(SIZES, seed=3)
    assert torch.equal(torch.get_rng_state(), state)


def test_init_mlp_follows_pytorch_default_uniform_bounds():
    """W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)): inside the bound, and filling it (not a narrower law)."""
    params = init_mlp([1000, 400, 1], seed=0, dtype=torch.float64)
    for name, value in params.items():
        if value.numel() < 400:
            continue
        bound = 1 / math.sqrt(params[name.split(".")[0] + ".weight"].shape[1])
        assert value.abs().max() <= bound
        assert value.abs().max() > 0.99 * bound
        # U(-c, c) has standard deviation c / sqrt(3).
        assert value.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_params_load_into_nn_sequential_and_give_the_same_outputs(activation):
    params = init_mlp(SIZES, seed=1, dtype=torch.float64)
    model = sequential(SIZES, activation)
    model.load_state_dict(params)  # strict: same keys, same shapes
    x = torch.randn(7, 5, SIZES[0], dtype=torch.float64)
    torch.testing.assert_close(mlp(params, x, activation), model(x), rtol=1e-14, atol=1e-14)


def test_mlp_maps_leading_batch_dims_row_by_row():
    params = init_mlp(SIZES, seed=1, dtype=torch.float64)
    x = torch.randn(4, 6, SIZES[0], dtype=torch.float64)
    out = mlp(params, x)
    assert out.shape == (4, 6, SIZES[-1])
    torch.testing.assert_close(out[2, 3], mlp(params, x[2, 3]))


def test_mlp_is_pure_under_torch_func_grad_and_vmap():
    """torch.func.grad of the loss equals autograd's gradient; vmap over stacked params equals a loop."""
    params = init_mlp(SIZES, seed=1, dtype=torch.float64)
    x = torch.randn(5, SIZES[0], dtype=torch.float64)

    def loss(p):
        return (mlp(p, x) ** 2).sum()

    expected = dict(zip(params, torch.autograd.grad(loss(params), list(params.values()))))
    torch.testing.assert_close(grad(loss)(params), expected)

    seeds = [1, 2, 3]
    stacked = {k: torch.stack([init_mlp(SIZES, seed=s, dtype=torch.float64)[k] for s in seeds]) for k in params}
    looped = torch.stack([mlp(init_mlp(SIZES, seed=s, dtype=torch.float64), x) for s in seeds])
    torch.testing.assert_close(vmap(mlp, in_dims=(0, None))(stacked, x), looped)


def test_mlp_rejects_an_unknown_key():
    params = init_mlp(SIZES, seed=0) | {"head.weight": torch.zeros(1, 2)}
    with pytest.raises(ValueError, match=r"unknown keys \['head.weight'\]"):
        mlp(params, torch.zeros(1, SIZES[0]))


def test_mlp_rejects_a_missing_key():
    params = init_mlp(SIZES, seed=0)
    del params["2.bias"]
    with pytest.raises(ValueError, match=r"missing keys \['2.bias'\]"):
        mlp(params, torch.zeros(1, SIZES[0]))


def test_mlp_rejects_an_empty_dict():
    with pytest.raises(ValueError, match="MLP params must be keyed '0.weight'"):
        mlp({}, torch.zeros(1, 3))


def test_mlp_rejects_an_input_with_the_wrong_number_of_features():
    params = init_mlp(SIZES, seed=0)
    with pytest.raises(ValueError, match=r"input has 2 features but layer '0.weight' expects 3 .*shape \(5, 2\)"):
        mlp(params, torch.zeros(5, 2))


def test_mlp_rejects_layers_whose_shapes_do_not_chain():
    """A dict whose layer 2 expects 30 inputs after a 40-unit layer 0 (e.g. loaded from another net)."""
    params = init_mlp([3, 40, 1], seed=0)
    params["2.weight"] = torch.zeros(1, 30)
    with pytest.raises(ValueError, match=r"2\.weight"):
        mlp(params, torch.zeros(5, 3))


def test_mlp_rejects_an_unknown_activation():
    with pytest.raises(ValueError, match=r"unknown activation 'sigmoid'; choose one of \['relu', 'tanh'\]"):
        mlp(init_mlp(SIZES, seed=0), torch.zeros(1, SIZES[0]), activation="sigmoid")


@pytest.mark.parametrize("sizes", [[3], [3, 0, 1], [3, 2.5, 1], []])
def test_init_mlp_rejects_bad_sizes(sizes):
    with pytest.raises(ValueError, match="sizes must list at least two positive integers"):
        init_mlp(sizes, seed=0)
