"""The linear feature baseline of rllab and MAML-RL (Duan et al. 2016; Finn et al. 2017).

A baseline b(s_t) estimates the return-to-go G_t from step t; subtracting it from G_t leaves the
policy gradient unbiased and lowers its variance. This one is linear in hand-made features,

    x_t = [o, o^2, t/100, (t/100)^2, (t/100)^3, 1],        o = clip(observation, -10, 10),

(o and o^2 elementwise, so 2 * obs_dim + 4 features), fit to the returns of the current batch by
ridge regression: w = argmin_w sum_{real steps} (x_t . w - G_t)^2 + ridge * ||w||^2, i.e.

    (X^T X + ridge I) w = X^T G.

The normal equations are solved in the observations' dtype (float32 from a sampler, as in
MAML-RL). A small ridge can vanish in rounding there (float32 keeps about 7 digits of X^T X), so
when the Cholesky factorization fails or the solution is not finite the solve is retried with a
10 times larger ridge, up to ``tries`` times.
"""

import torch

from .returns import _shape, check_batch, masked


def features(obs: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """x_t = [o, o^2, t/100, (t/100)^2, (t/100)^3, 1] per step, shape [episodes, T, 2 obs_dim + 4]."""
    masks = check_batch(masks)
    if not isinstance(obs, torch.Tensor) or obs.dim() != 3 or obs.shape[:2] != masks.shape:
        raise ValueError(
            f"obs must be a tensor [episodes, T, obs_dim] that matches masks [episodes, T]; "
            f"got obs {_shape(obs)}, masks {_shape(masks)}"
        )
    o = obs.clamp(-10.0, 10.0)
    t = (torch.arange(obs.shape[1], dtype=obs.dtype) / 100.0).expand(obs.shape[:2]).unsqueeze(-1)
    return torch.cat([o, o**2, t, t**2, t**3, torch.ones_like(t)], dim=-1)


class LinearFeatureBaseline:
    """b(s_t) = x_t . w with w fit by ridge regression; ``fit`` then ``predict``."""

    def __init__(self, ridge: float = 1e-5, tries: int = 5):
        if not isinstance(ridge, (int, float)) or not ridge > 0:
            raise ValueError(f"ridge must be a number > 0, got {ridge!r}")
        if isinstance(tries, bool) or not isinstance(tries, int) or tries < 1:
            raise ValueError(f"tries must be an integer >= 1, got {tries!r}")
        self.ridge = float(ridge)
        self.tries = tries
        self.weights = None  # [2 obs_dim + 4] after fit
        self.ridge_used = None  # the ridge of the solve that succeeded

    def fit(self, obs: torch.Tensor, returns: torch.Tensor, masks: torch.Tensor) -> "LinearFeatureBaseline":
        """Fit w to the returns-to-go G_t (``returns``, [episodes, T]) over the real steps."""
        masks = check_batch(masks, returns=returns).bool()
        x = features(obs, masks)[masks].detach().double()  # [real steps, F]; float64: o^2 and t^3 span decades
        g = returns[masks].detach().double()
        if not (torch.isfinite(x).all() and torch.isfinite(g).all()):
            raise ValueError("obs and returns must be finite at the real steps (mask 1) to fit the baseline")
        gram, target = x.T @ x, x.T @ g
        eye = torch.eye(len(gram), dtype=x.dtype)
        for attempt in range(self.tries):
            ridge = self.ridge * 10**attempt
            chol, info = torch.linalg.cholesky_ex(gram + ridge * eye)
            if info == 0:
                w = torch.cholesky_solve(target[:, None], chol)[:, 0]
                if torch.isfinite(w).all():
                    self.weights, self.ridge_used = w, ridge
                    return self
        raise RuntimeError(
            f"linear baseline: X^T X + ridge I stayed singular up to ridge {ridge:g}; pass a larger ridge"
        )

    def predict(self, obs: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Values b_t = x_t . w, shape [episodes, T]; 0 at padded steps."""
        if self.weights is None:
            raise RuntimeError("call fit(obs, returns, masks) before predict")
        x = features(obs, masks)
        if x.shape[-1] != len(self.weights):
            raise ValueError(
                f"obs has {obs.shape[-1]} features per step but the baseline was fit on {(len(self.weights) - 4) // 2}"
            )
        return masked(x.detach() @ self.weights.to(x.dtype), masks)
