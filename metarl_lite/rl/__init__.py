"""Reinforcement-learning building blocks: returns and advantages, baselines, surrogate objectives."""

from .baselines import LinearFeatureBaseline
from .returns import discounted_returns, gae
from .surrogates import dice, loglik, lvc, ppo_clip, vpg_inner_loss

__all__ = ["discounted_returns", "gae", "LinearFeatureBaseline", "loglik", "lvc", "dice", "ppo_clip", "vpg_inner_loss"]
