"""Reinforcement-learning building blocks: policies, the sampler, returns and advantages, baselines,
surrogate objectives and the TRPO update."""

from . import policies
from .baselines import LinearFeatureBaseline
from .policies import init_policy
from .returns import discounted_returns, gae
from .sampler import Episodes, sample_episodes
from .surrogates import dice, loglik, lvc, ppo_clip, vpg_inner_loss
from .trpo import conjugate_gradient, fisher_vector_product, trpo_step

__all__ = [
    "discounted_returns", "gae", "LinearFeatureBaseline", "loglik", "lvc", "dice", "ppo_clip", "vpg_inner_loss",
    "policies", "init_policy", "Episodes", "sample_episodes", "conjugate_gradient", "fisher_vector_product",
    "trpo_step",
]
