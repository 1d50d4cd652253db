"""metarl_lite.meta.reptile_step, and Nichol et al.'s Taylor analysis of MAML, FOMAML and Reptile.

Notation: theta the meta-parameters, alpha the inner step size (``inner_lr``), beta the outer
step size (``outer_lr``), W_i the weights after task i's inner SGD steps, k minibatches per task.
"""

import itertools
import math

import pytest
import torch
from torch.autograd.functional import hessian

from metarl_lite.meta import adapt, reptile_step
from metarl_lite.nn import init_mlp, mlp

INNER_LR, OUTER_LR = 0.1, 0.5
SIZES = [2, 4, 1]


@pytest.fixture
def theta():
    return init_mlp(SIZES, seed=1, dtype=torch.float64)


def tasks_with(make_batch, ks, n=5):
    """One Reptile task per entry of ks, each a list of k minibatches of n points."""
    return [[make_batch(n, 2, seed=10 * i + j) for j in range(k)] for i, k in enumerate(ks)]


@pytest.mark.parametrize("path, ks", [("vmap", [1, 1, 1]), ("loop", None)])
def test_reptile_with_one_minibatch_is_a_joint_training_sgd_step(path, ks, theta, make_batch, mse, grad_dict):
    """k = 1: theta + beta mean_i (-alpha g_i) = theta - alpha beta grad (mean_i L_i)(theta)."""
    if path == "vmap":
        tasks = tasks_with(make_batch, ks)
    else:  # tasks of different sizes cannot be stacked
        tasks = [[make_batch(4 + i, 2, seed=i)] for i in range(3)]
    new = reptile_step(mse, theta, tasks, inner_lr=INNER_LR, outer_lr=OUTER_LR)
    joint = torch.stack([mse(theta, task[0]) for task in tasks]).mean()
    expected = {k: theta[k].detach() - INNER_LR * OUTER_LR * g for k, g in grad_dict(joint, theta).items()}
    torch.testing.assert_close({k: v.detach() for k, v in new.items()}, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("ks", [[3, 3, 3], [2, 3, 4]], ids=["vmap", "loop"])
def test_batched_reptile_update_matches_a_hand_written_loop(ks, theta, make_batch, mse, sgd_path):
    """theta + beta mean_i (W_i - theta), with W_i from k_i explicit SGD steps."""
    tasks = tasks_with(make_batch, ks)
    new = reptile_step(mse, theta, tasks, inner_lr=INNER_LR, outer_lr=OUTER_LR)
    ws = [sgd_path(mse, theta, task, INNER_LR) for task in tasks]
    expected = {
        k: theta[k].detach() + OUTER_LR * sum(w[k] - theta[k].detach() for w in ws) / len(ws) for k in theta
    }
    torch.testing.assert_close({k: v.detach() for k, v in new.items()}, expected, rtol=1e-13, atol=1e-15)


def test_vmap_path_equals_loop_path_for_tasks_with_different_k(theta, make_batch, mse):
    """Mixed k (loop) against the average of single-task steps with beta = 1 (vmap over one task)."""
    tasks = tasks_with(make_batch, [2, 3, 2])
    mixed = reptile_step(mse, theta, tasks, inner_lr=INNER_LR, outer_lr=OUTER_LR)
    ws = [reptile_step(mse, theta, [task], inner_lr=INNER_LR, outer_lr=1.0) for task in tasks]
    expected = {k: theta[k] + OUTER_LR * sum(w[k] - theta[k] for w in ws) / len(ws) for k in theta}
    torch.testing.assert_close(
        {k: v.detach() for k, v in mixed.items()}, {k: v.detach() for k, v in expected.items()}, rtol=1e-13, atol=1e-15
    )


def test_reptile_step_keeps_requires_grad_and_leaves_theta_untouched(theta, make_batch, mse):
    theta["2.bias"] = theta["2.bias"].detach()
    before = {k: v.detach().clone() for k, v in theta.items()}
    new = reptile_step(mse, theta, tasks_with(make_batch, [2, 2]), inner_lr=INNER_LR, outer_lr=OUTER_LR)
    assert {k: v.requires_grad for k, v in new.items()} == {k: v.requires_grad for k, v in theta.items()}
    assert all(v.is_leaf for v in new.values())
    torch.testing.assert_close({k: v.detach() for k, v in theta.items()}, before, rtol=0, atol=0)


# ---- Nichol et al. (2018), Sec. 5: the gradients to first order in alpha ------------------------


class TaylorTerms:
    """AvgGrad = E[g_i] and AvgGradInner = E[H_j g_i] (i before j), at theta, over all orderings.

    g_i = grad L_i(theta) and H_j = hess L_j(theta) come from plain autograd (double backward for H)
    on a flat parameter vector, independently of the library.
    """

    def __init__(self, loss_fn, theta, minibatches):
        names, shapes = list(theta), [v.shape for v in theta.values()]
        flat = torch.cat([v.detach().reshape(-1) for v in theta.values()])

        def unflatten(vector):
            parts = vector.split([math.prod(s) for s in shapes])
            return {name: part.reshape(s) for name, part, s in zip(names, parts, shapes)}

        def loss_of(batch):
            return lambda vector: loss_fn(unflatten(vector), batch)

        point = flat.clone().requires_grad_()
        grads = [torch.autograd.grad(loss_of(b)(point), point)[0] for b in minibatches]
        hessians = [hessian(loss_of(b), flat) for b in minibatches]
        orders = list(itertools.permutations(range(len(minibatches))))
        self.avg_grad = unflatten(sum(grads) / len(grads))
        self.avg_grad_inner = unflatten(
            sum(
                sum(hessians[o[b]] @ grads[o[a]] for a, b in itertools.combinations(range(len(o)), 2))
                / math.comb(len(o), 2)
                for o in orders
            )
            / len(orders)
        )


def gradient_estimate(estimator, loss_fn, theta, ordered, lr):
    """One ordering's gradient: (FO)MAML takes k - 1 inner steps on minibatches 1..k-1 (chained
    adapt calls) and differentiates the loss on minibatch k; Reptile's is (theta - W) / alpha, with W
    after one SGD step on each of the k minibatches."""
    if estimator == "reptile":
        w = reptile_step(loss_fn, theta, [ordered], inner_lr=lr, outer_lr=1.0)
        return {k: (theta[k].detach() - w[k].detach()) / lr for k in theta}
    phi = theta
    for batch in ordered[:-1]:
        phi = adapt(loss_fn, phi, batch, lr=lr, steps=1, first_order=estimator == "fomaml")
    return dict(zip(theta, torch.autograd.grad(loss_fn(phi, ordered[-1]), list(theta.values()))))


# E[g] = c_1 AvgGrad + c_2 alpha AvgGradInner + O(alpha^2): (c_1, c_2) for k minibatches.
COEFFICIENTS = {
    "maml": lambda k: (1, -2 * (k - 1)),
    "fomaml": lambda k: (1, -(k - 1)),
    "reptile": lambda k: (k, -k * (k - 1) / 2),
}


def norm(d):
    return torch.sqrt(sum((v**2).sum() for v in d.values())).item()


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("estimator", list(COEFFICIENTS))
def test_ordering_averaged_gradient_matches_nichol_taylor_expansion(estimator, k, theta, make_batch, smooth_mse):
    """E[g] = c_1 AvgGrad + c_2 alpha AvgGradInner + O(alpha^2), averaged over the k! orderings.

    The error must shrink about 4x when alpha halves (second order) and stay far below the
    alpha-order term it is compared with.
    """
    minibatches = [make_batch(6, 2, seed=100 + j) for j in range(k)]
    terms = TaylorTerms(smooth_mse, theta, minibatches)
    c_grad, c_inner = COEFFICIENTS[estimator](k)
    orders = list(itertools.permutations(minibatches))

    errors, first_order_terms = [], []
    for lr in (0.01, 0.005):
        per_order = [gradient_estimate(estimator, smooth_mse, theta, list(o), lr) for o in orders]
        mean = {name: sum(g[name] for g in per_order) / len(orders) for name in theta}
        inner_term = {name: c_inner * lr * terms.avg_grad_inner[name] for name in theta}
        prediction = {name: c_grad * terms.avg_grad[name] + inner_term[name] for name in theta}
        errors.append(norm({name: mean[name] - prediction[name] for name in theta}))
        first_order_terms.append(norm(inner_term))

    ratio = errors[0] / errors[1]
    assert 3.5 < ratio < 4.5, f"error {errors} should shrink ~4x as alpha halves (ratio {ratio:.3f})"
    detail = f"O(alpha^2) error {errors[1]:.2e}, alpha term {first_order_terms[1]:.2e}"
    assert errors[1] < 0.05 * first_order_terms[1], detail


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value, shown", [("inner_lr", -0.1, "-0.1"), ("inner_lr", float("nan"), "nan"), ("outer_lr", -1.0, "-1.0"),
                           ("outer_lr", float("nan"), "nan")]
)
def test_bad_step_sizes_are_rejected(name, value, shown, theta, make_batch, mse):
    lrs = {"inner_lr": INNER_LR, "outer_lr": OUTER_LR} | {name: value}
    with pytest.raises(ValueError, match=f"^{name} must be a finite number >= 0, got {shown}$"):
        reptile_step(mse, theta, tasks_with(make_batch, [2]), **lrs)


def test_empty_task_list_is_rejected(theta, mse):
    with pytest.raises(ValueError, match="^tasks is empty; a Reptile task is a list of k minibatches$"):
        reptile_step(mse, theta, [], inner_lr=INNER_LR, outer_lr=OUTER_LR)


def test_a_task_without_minibatches_is_rejected(theta, make_batch, mse):
    with pytest.raises(ValueError, match=r"^tasks\[1\] has no minibatches; a Reptile task is a list of k >= 1"):
        reptile_step(mse, theta, [tasks_with(make_batch, [2])[0], []], inner_lr=INNER_LR, outer_lr=OUTER_LR)


@pytest.mark.parametrize("ks", [[2, 2], [2, 3]], ids=["vmap", "loop"])
def test_non_scalar_loss_is_rejected(ks, theta, make_batch):
    def non_scalar_loss(params, batch):
        x, y = batch
        return (mlp(params, x) - y) ** 2

    with pytest.raises(ValueError, match=r"^loss_fn must return a scalar, got shape \(5, 1\)$"):
        reptile_step(non_scalar_loss, theta, tasks_with(make_batch, ks), inner_lr=INNER_LR, outer_lr=OUTER_LR)


@pytest.mark.parametrize("ks", [[2, 2], [2, 3]], ids=["vmap", "loop"])
def test_unknown_param_name_is_rejected(ks, theta, make_batch, mse):
    params = theta | {"extra.bias": torch.zeros(1, dtype=torch.float64)}
    with pytest.raises(ValueError, match=r"unknown keys \['extra.bias'\]"):
        reptile_step(mse, params, tasks_with(make_batch, ks), inner_lr=INNER_LR, outer_lr=OUTER_LR)


@pytest.mark.parametrize("ks", [[2, 2], [2, 3]], ids=["vmap", "loop"])
def test_input_with_the_wrong_number_of_features_is_rejected(ks, make_batch, mse):
    params = init_mlp([3, 4, 1], seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"input has 2 features but layer '0.weight' expects 3"):
        reptile_step(mse, params, tasks_with(make_batch, ks), inner_lr=INNER_LR, outer_lr=OUTER_LR)
