"""Reinforcement-learning building blocks: policies, the sampler, returns and advantages, baselines,
surrogate objectives and the TRPO update; and on top of them the meta-RL algorithms (meta_rl)."""

from . import meta_rl, policies
from .baselines import LinearFeatureBaseline
from .meta_rl import PolicyDistribution, maml_rl_step, pmaml_rl_step, reptile_rl_step
from .policies import init_policy
from .returns import discounted_returns, gae
from .sampler import Episodes, sample_episodes
from .surrogates import dice, loglik, lvc, ppo_clip, vpg_inner_loss
from .trpo import conjugate_gradient, fisher_vector_product, trpo_step

__all__ = [
    "discounted_returns", "gae", "LinearFeatureBaseline", "loglik", "lvc", "dice", "ppo_clip", "vpg_inner_loss",
    "policies", "init_policy", "Episodes", "sample_episodes", "conjugate_gradient", "fisher_vector_product",
    "trpo_step", "meta_rl", "maml_rl_step", "reptile_rl_step", "pmaml_rl_step", "PolicyDistribution",
]
