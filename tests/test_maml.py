"""metarl_lite.meta.adapt and maml_objective: the MAML meta-gradient, exactly, in float64.

Notation: theta the meta-parameters, alpha the inner step size (``lr``), k the inner steps
(``steps``), phi_k the adapted parameters, L_tr / L_te the support / query losses,
H_tr(theta) = hess L_tr(theta).
"""

import numpy as np
import pytest
import torch

from metarl_lite.meta import adapt, maml_objective
from metarl_lite.nn import init_mlp, mlp
from metarl_lite.tasks import LinearRegression
from metarl_lite.tasks.linear import maml_closed_form

LR = 0.1
SIZES = [2, 4, 1]


@pytest.fixture
def theta():
    return init_mlp(SIZES, seed=1, dtype=torch.float64)


@pytest.fixture
def equal_tasks(make_batch):
    """Three (support, query) tasks with equal shapes: maml_objective takes its vmap path."""
    return [(make_batch(5, 2, seed=2 * i), make_batch(6, 2, seed=2 * i + 1)) for i in range(3)]


@pytest.fixture
def unequal_tasks(make_batch):
    """Three tasks with support sets of 4, 5 and 6 points: maml_objective takes its loop path."""
    return [(make_batch(4 + i, 2, seed=2 * i), make_batch(6, 2, seed=2 * i + 1)) for i in range(3)]


# ---- exact meta-gradients --------------------------------------------------------------------


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("path", ["vmap", "loop"])
def test_maml_gradient_matches_closed_form_linear(steps, path, mse, grad_dict):
    """Linear regression: grad J = mean_i (A_i^k)^T grad L_te,i(phi_k,i), A_i = I - alpha H_i."""
    rng = np.random.default_rng(0)
    family = LinearRegression(dim=3, noise_std=0.1)
    support_sizes = [6, 6, 6, 6] if path == "vmap" else [4, 5, 6, 7]
    tasks = [(t.sample(n, rng), t.sample(8, rng)) for t, n in zip(family.sample_tasks(4, rng), support_sizes)]
    theta = init_mlp([3, 1], seed=0, dtype=torch.float64)

    value = maml_objective(mse, theta, tasks, lr=LR, steps=steps)
    expected_value, expected_grad = maml_closed_form(theta, tasks, lr=LR, steps=steps)

    torch.testing.assert_close(value.detach(), torch.as_tensor(expected_value), rtol=1e-12, atol=0)
    torch.testing.assert_close(grad_dict(value, theta), expected_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("steps", [1, 3])
def test_maml_gradient_matches_central_finite_differences_mlp(steps, activation, equal_tasks, theta, grad_dict):
    """Small MLP in float64: every coordinate of grad J against (J(theta + h e) - J(theta - h e)) / 2h."""

    def loss_fn(params, batch):
        x, y = batch
        return ((mlp(params, x, activation) - y) ** 2).mean()

    def objective(params):
        return maml_objective(loss_fn, params, equal_tasks, lr=LR, steps=steps)

    gradient = grad_dict(objective(theta), theta)
    h = 1e-6
    for name, value in theta.items():
        numeric = torch.zeros_like(value)
        for index in np.ndindex(*value.shape):
            bump = torch.zeros_like(value)
            bump[index] = h
            plus = objective(theta | {name: value.detach() + bump})
            minus = objective(theta | {name: value.detach() - bump})
            numeric[index] = (plus - minus).item() / (2 * h)
        torch.testing.assert_close(gradient[name], numeric, rtol=1e-6, atol=1e-8, msg=name)


@pytest.mark.parametrize("path", ["vmap", "loop"])
def test_maml_second_minus_first_order_is_minus_alpha_hessian_times_query_gradient(
    path, equal_tasks, unequal_tasks, theta, smooth_mse, grad_dict, grad_at, sgd_path
):
    """One inner step: grad J - grad J_FO = mean_i -alpha H_tr,i(theta) grad L_te,i(phi_i).

    The Hessian-vector product is computed independently by double backward through L_tr.
    """
    tasks = equal_tasks if path == "vmap" else unequal_tasks
    second = grad_dict(maml_objective(smooth_mse, theta, tasks, lr=LR), theta)
    first = grad_dict(maml_objective(smooth_mse, theta, tasks, lr=LR, first_order=True), theta)

    expected = {k: torch.zeros_like(v) for k, v in theta.items()}
    for support, query in tasks:
        v = grad_at(smooth_mse, sgd_path(smooth_mse, theta, [support], LR), query)
        point = {k: p.detach().requires_grad_() for k, p in theta.items()}
        g_tr = torch.autograd.grad(smooth_mse(point, support), list(point.values()), create_graph=True)
        hvp = torch.autograd.grad(sum((g * v[k]).sum() for k, g in zip(point, g_tr)), list(point.values()))
        for k, hv in zip(point, hvp):
            expected[k] -= LR * hv / len(tasks)

    difference = {k: second[k] - first[k] for k in theta}
    assert max(d.abs().max() for d in difference.values()) > 1e-3  # the correction is not negligible here
    torch.testing.assert_close(difference, expected, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("path", ["adapt", "vmap", "loop"])
def test_first_order_meta_gradient_is_query_gradient_at_phi(
    steps, path, equal_tasks, unequal_tasks, theta, mse, grad_dict, grad_at, sgd_path
):
    """FOMAML: d phi / d theta = I, so grad J_FO = mean_i grad L_te,i(phi_k,i) (not zero)."""
    tasks = unequal_tasks if path == "loop" else equal_tasks
    if path == "adapt":
        losses = [mse(adapt(mse, theta, s, lr=LR, steps=steps, first_order=True), q) for s, q in tasks]
        value = torch.stack(losses).mean()
    else:
        value = maml_objective(mse, theta, tasks, lr=LR, steps=steps, first_order=True)

    expected = {k: torch.zeros_like(v) for k, v in theta.items()}
    for support, query in tasks:
        for k, g in grad_at(mse, sgd_path(mse, theta, [support] * steps, LR), query).items():
            expected[k] += g / len(tasks)

    gradient = grad_dict(value, theta)
    assert all(g.abs().max() > 1e-3 for g in gradient.values())
    torch.testing.assert_close(gradient, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("steps", [1, 3])
def test_vmap_path_and_loop_path_give_the_same_value_and_gradient(
    steps, first_order, equal_tasks, unequal_tasks, theta, mse, grad_dict
):
    """Equal shapes (vmap) against a loop of adapt; unequal shapes (loop) against vmapped single tasks."""
    kwargs = dict(lr=LR, steps=steps, first_order=first_order)
    for tasks in (equal_tasks, unequal_tasks):
        value = maml_objective(mse, theta, tasks, **kwargs)
        if tasks is equal_tasks:
            reference = torch.stack([mse(adapt(mse, theta, s, **kwargs), q) for s, q in tasks]).mean()
        else:
            reference = torch.stack([maml_objective(mse, theta, [task], **kwargs) for task in tasks]).mean()
        torch.testing.assert_close(value, reference, rtol=1e-13, atol=0)
        torch.testing.assert_close(grad_dict(value, theta), grad_dict(reference, theta), rtol=1e-12, atol=1e-15)


def test_adapted_params_after_k_steps_equal_k_gradient_steps(equal_tasks, theta, mse, sgd_path):
    support = equal_tasks[0][0]
    phi = adapt(mse, theta, support, lr=LR, steps=3)
    torch.testing.assert_close({k: v.detach() for k, v in phi.items()}, sgd_path(mse, theta, [support] * 3, LR))
    assert all(v.requires_grad for v in phi.values())  # second order: phi is a function of theta


@pytest.mark.parametrize("path", ["vmap", "loop"])
def test_zero_steps_returns_the_loss_at_theta(path, equal_tasks, unequal_tasks, theta, mse, grad_dict):
    tasks = equal_tasks if path == "vmap" else unequal_tasks
    value = maml_objective(mse, theta, tasks, lr=LR, steps=0)
    reference = torch.stack([mse(theta, q) for _, q in tasks]).mean()
    torch.testing.assert_close(value, reference, rtol=1e-15, atol=0)
    torch.testing.assert_close(grad_dict(value, theta), grad_dict(reference, theta), rtol=1e-14, atol=0)
    phi = adapt(mse, theta, tasks[0][0], lr=LR, steps=0)
    torch.testing.assert_close(phi, theta, rtol=0, atol=0)


def test_adapt_works_when_params_do_not_require_grad(equal_tasks, theta, mse, sgd_path):
    frozen = {k: v.detach().clone() for k, v in theta.items()}
    before = {k: v.clone() for k, v in frozen.items()}
    support = equal_tasks[0][0]
    phi = adapt(mse, frozen, support, lr=LR, steps=2)
    torch.testing.assert_close({k: v.detach() for k, v in phi.items()}, sgd_path(mse, theta, [support] * 2, LR))
    torch.testing.assert_close(frozen, before, rtol=0, atol=0)  # the caller's tensors are untouched
    assert not any(v.requires_grad for v in frozen.values())


# ---- bad input: one-line ValueErrors that say what to fix -------------------------------------


def non_scalar_loss(params, batch):
    x, y = batch
    return (mlp(params, x) - y) ** 2


@pytest.mark.parametrize("lr, shown", [(-0.1, "-0.1"), (float("nan"), "nan"), (float("inf"), "inf")])
@pytest.mark.parametrize("call", ["adapt", "maml_objective"])
def test_bad_lr_is_rejected(call, lr, shown, equal_tasks, theta, mse):
    with pytest.raises(ValueError, match=f"^lr must be a finite number >= 0, got {shown}$"):
        if call == "adapt":
            adapt(mse, theta, equal_tasks[0][0], lr=lr)
        else:
            maml_objective(mse, theta, equal_tasks, lr=lr)


@pytest.mark.parametrize("steps", [-1, 1.5, True])
@pytest.mark.parametrize("call", ["adapt", "maml_objective"])
def test_bad_steps_are_rejected(call, steps, equal_tasks, theta, mse):
    with pytest.raises(ValueError, match=f"^steps must be an integer >= 0, got {steps!r}$"):
        if call == "adapt":
            adapt(mse, theta, equal_tasks[0][0], lr=LR, steps=steps)
        else:
            maml_objective(mse, theta, equal_tasks, lr=LR, steps=steps)


@pytest.mark.parametrize("path, steps", [("adapt", 1), ("vmap", 0), ("vmap", 1), ("loop", 0), ("loop", 1)])
def test_non_scalar_loss_is_rejected(path, steps, equal_tasks, unequal_tasks, theta):
    with pytest.raises(ValueError, match=r"^loss_fn must return a scalar, got shape \(\d+, 1\)$"):
        if path == "adapt":
            adapt(non_scalar_loss, theta, equal_tasks[0][0], lr=LR, steps=steps)
        else:
            tasks = equal_tasks if path == "vmap" else unequal_tasks
            maml_objective(non_scalar_loss, theta, tasks, lr=LR, steps=steps)


def test_empty_task_list_is_rejected(theta, mse):
    with pytest.raises(ValueError, match=r"^tasks is empty; pass at least one \(support, query\) pair$"):
        maml_objective(mse, theta, [], lr=LR)


def test_a_task_that_is_not_a_pair_is_rejected(equal_tasks, theta, mse):
    with pytest.raises(ValueError, match=r"^tasks\[1\] must be a \(support, query\) pair"):
        maml_objective(mse, theta, [equal_tasks[0], equal_tasks[1][0] + (None,)], lr=LR)


@pytest.mark.parametrize("path", ["adapt", "vmap", "loop"])
def test_unknown_param_name_is_rejected(path, equal_tasks, unequal_tasks, theta, mse):
    params = theta | {"extra.weight": torch.zeros(1, dtype=torch.float64, requires_grad=True)}
    with pytest.raises(ValueError, match=r"unknown keys \['extra.weight'\]"):
        if path == "adapt":
            adapt(mse, params, equal_tasks[0][0], lr=LR)
        else:
            maml_objective(mse, params, equal_tasks if path == "vmap" else unequal_tasks, lr=LR)


@pytest.mark.parametrize("path", ["adapt", "vmap", "loop"])
def test_input_with_the_wrong_number_of_features_is_rejected(path, make_batch, mse):
    params = init_mlp([3, 4, 1], seed=0, dtype=torch.float64)  # expects 3 features; the batches have 2
    tasks = [(make_batch(4 + i * (path == "loop"), 2, seed=i), make_batch(6, 2, seed=9)) for i in range(2)]
    with pytest.raises(ValueError, match=r"input has 2 features but layer '0.weight' expects 3"):
        if path == "adapt":
            adapt(mse, params, tasks[0][0], lr=LR)
        else:
            maml_objective(mse, params, tasks, lr=LR)


@pytest.mark.parametrize("params", [{}, {"0.weight": np.zeros((1, 2))}, [torch.zeros(1)]])
def test_params_that_are_not_a_dict_of_float_tensors_are_rejected(params, equal_tasks, mse):
    with pytest.raises(ValueError, match=r"^params(\['0.weight'\])? must be a"):
        adapt(mse, params, equal_tasks[0][0], lr=LR)
