"""Collect episodes for many tasks at once: one VectorEnv, one batched policy forward per step.

The VectorEnv (e.g. ``metarl_lite.tasks.navigation.make_vec_env``) has autoreset disabled and its
N slots task-major: with per-task params for n tasks (each tensor [n, ...], see
``policies.stack``), slots [i N/n, (i + 1) N/n) run task i and act with task i's policy. Every
slot starts at ``reset``; each step feeds all N observations, reshaped [n, N/n, obs_dim], through
the n networks at once and draws a_t = mu_i(s_t) + sigma_i * eps_t, eps_t ~ N(0, I). A slot stops at
its first termination or truncation; the batch is cut at ``horizon`` steps.

Worker processes (``SamplerPool``): the slots of a family's env can be spread over processes, each
with its own copy of the policy and its own VectorEnv for a share of the tasks, and only the
finished episodes travel back. The pool lives as long as you keep it (starting processes and
building their environments costs seconds, so training makes one pool and samples from it many
times); ``pool.make_vec_env(tasks, episodes_per_task)`` returns a handle that ``sample_episodes``
accepts in place of an env. The episodes depend on the seed only, not on the number of workers: the
noise eps of every slot and step is drawn in the parent from one generator, slot i's initial state
comes from its own generator seeded with (seed, i) (see ``MujocoVecEnv``), and every process
evaluates the policy on the layout of the whole batch (see ``task_means``). The workers are started
with ``spawn``, which imports the main module again: in a script, make the pool under
``if __name__ == "__main__":``.
"""

import itertools
import multiprocessing
import os
import pickle
import weakref
from dataclasses import dataclass

import numpy as np
import torch

from .. import nn
from . import policies


@dataclass
class Episodes:
    """A batch of E episodes padded to T steps; step t holds s_t, a_t ~ pi(. | s_t) and r_t.

    ``masks`` is 1 at the real steps and 0 after an episode ended (rows like 1 1 1 0 0); every
    other tensor is 0 at padded steps. ``log_probs`` are log pi(a_t | s_t) of the policy that
    sampled (detached). Episode e belongs to task ``task_ids[e]`` (task-major order).
    """

    obs: torch.Tensor  # [E, T, obs_dim]
    actions: torch.Tensor  # [E, T, act_dim]
    rewards: torch.Tensor  # [E, T]
    masks: torch.Tensor  # [E, T]
    log_probs: torch.Tensor  # [E, T]
    task_ids: torch.Tensor  # [E], long


def _dims(env, params) -> tuple:
    """(n_tasks, episodes per task, obs_dim, act_dim), checked against the env's spaces."""
    tasks = policies.n_tasks(params)
    if tasks is None:
        raise ValueError("sample_episodes needs per-task params [n_tasks, ...]; for one shared policy "
                         "pass policies.stack([params] * n_tasks)")
    obs_dim, act_dim = params["0.weight"].shape[-1], params[policies.LOG_STD].shape[-1]
    if env.num_envs % tasks:
        raise ValueError(f"the env has {env.num_envs} slots, not a multiple of the {tasks} tasks of the params")
    for what, space, size in (("observations", env.single_observation_space, obs_dim),
                              ("actions", env.single_action_space, act_dim)):
        if space.shape != (size,):
            raise ValueError(f"the env's {what} have shape {space.shape} but the policy's have ({size},)")
    return tasks, env.num_envs // tasks, obs_dim, act_dim


def _check_step(what: str, value, shape: tuple, running: np.ndarray, per_task: int, t: int,
                first_slot: int = 0) -> np.ndarray:
    """``value`` as an array of ``shape``, finite in every running slot; else an error naming the slot."""
    value = np.asarray(value)
    if value.shape != shape:
        raise ValueError(f"the env returned {what} of shape {value.shape} at step {t}, expected {shape}")
    if not np.isfinite(value).all():  # fine if only slots that already ended are affected
        bad = running & ~np.isfinite(value.reshape(shape[0], -1)).all(axis=1)
        if bad.any():
            slot = int(np.flatnonzero(bad)[0])
            raise ValueError(f"the env returned non-finite {what} at step {t} in slot {first_slot + slot} "
                             f"(task {(first_slot + slot) // per_task}): {value[slot].tolist()}")
    return value


def task_means(params: dict, obs: torch.Tensor) -> torch.Tensor:
    """mu_theta_i(s) [n, m, act_dim] for per-task params [n, ...] and observations [n, m, obs_dim].

    The mean of ``policies.gaussian`` (the same tanh MLP), computed with one ``baddbmm`` per layer:
    a ``vmap`` call costs about 0.5 ms, a fifth of a 40-slot HalfCheetah step. The last bits of a
    matrix product (MKL's) depend on the memory alignment of its operands, so the sampler always
    evaluates this on the whole batch in freshly allocated tensors, in every worker process alike.
    """
    return _forward(_layers(params), obs)


def _layers(params: dict) -> list:
    """[(b [n, 1, out], W^T [n, in, out]), ...] of per-task params: the views ``_forward`` multiplies."""
    net = {k: v for k, v in params.items() if k != policies.LOG_STD}
    return [(net[f"{i}.bias"].unsqueeze(1), net[f"{i}.weight"].transpose(1, 2)) for i in nn.layer_names(net)]


def _forward(layers: list, x: torch.Tensor) -> torch.Tensor:
    activation = nn.ACTIVATIONS[policies.ACTIVATION]
    for j, (bias, weight_t) in enumerate(layers):
        x = torch.baddbmm(bias, x, weight_t)
        if j < len(layers) - 1:
            x = activation(x)
    return x


def action_noise(seed: int, num_envs: int, horizon: int, act_dim: int, dtype) -> torch.Tensor:
    """eps [horizon, num_envs, act_dim] ~ N(0, I): step t's [num_envs, act_dim] is the t-th draw of a
    torch.Generator seeded with ``seed`` (so a shorter horizon gives the first steps of a longer one)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randn(num_envs, act_dim, generator=generator, dtype=dtype) for _ in range(horizon)])


def _rollout(env, params: dict, noise: torch.Tensor, *, seed: int, per_task: int, first_slot: int = 0) -> tuple:
    """Roll out the slots of ``env``: slots [first_slot, first_slot + env.num_envs) of a batch of
    n_tasks * ``per_task`` slots, acting with the batch's per-task ``params`` (fresh tensors) and
    ``noise`` [T, env.num_envs, act_dim] of these slots. Returns (s, a, r, running before the step),
    each [env.num_envs, T, ...], zero after a slot's episode ended."""
    tasks, obs_dim, act_dim = policies.n_tasks(params), params["0.weight"].shape[-1], noise.shape[-1]
    horizon, n, dtype = noise.shape[0], env.num_envs, noise.dtype
    slots = slice(first_slot, first_slot + n)
    layers = _layers(params)
    scaled_noise = torch.exp(params[policies.LOG_STD]).repeat_interleave(per_task, dim=0)[slots] * noise  # sigma eps
    batch_obs = torch.zeros(tasks * per_task, obs_dim, dtype=dtype)  # the whole batch's s_t, ours in rows `slots`
    our_obs = batch_obs.numpy()[slots]
    obs, actions = torch.zeros(n, horizon, obs_dim, dtype=dtype), torch.zeros(n, horizon, act_dim, dtype=dtype)
    rewards, live = torch.zeros(n, horizon, dtype=dtype), torch.zeros(n, horizon, dtype=torch.bool)
    columns = [column.numpy() for column in (obs, actions, rewards, live)]  # numpy views, written step by step
    running = np.ones(n, dtype=bool)
    observation, _ = env.reset(seed=seed)
    for t in range(horizon):
        our_obs[:] = _check_step("observations", observation, (n, obs_dim), running, per_task, t, first_slot)
        mean = _forward(layers, batch_obs.view(tasks, per_task, obs_dim)).view(-1, act_dim)[slots]
        a_t = (mean + scaled_noise[t]).numpy()
        observation, reward, terminated, truncated, _ = env.step(a_t)
        reward = _check_step("rewards", reward, (n,), running, per_task, t, first_slot)
        for column, value in zip(columns, (our_obs, a_t, reward, running)):
            column[:, t] = value
        running = running & ~(np.asarray(terminated) | np.asarray(truncated))
        if not running.any():
            break
    zero = torch.zeros((), dtype=dtype)
    return (*(torch.where(live[..., None], x, zero) for x in (obs, actions)), torch.where(live, rewards, zero), live)


@torch.no_grad()
def sample_episodes(env, params: dict, *, horizon: int, seed: int) -> Episodes:
    """Episodes of every slot of ``env`` under per-task ``params``, as [E = env.num_envs, T = horizon] tensors.

    ``env`` is a VectorEnv or a ``SamplerPool`` handle (``pool.make_vec_env``); both give the same
    episodes. Deterministic given ``seed``: it seeds ``env.reset`` and the generator of the action
    noise (``action_noise``). Tensors take the dtype of ``params``; the actions sent to the env are
    the raw Gaussian samples (the env clips them), and those are the ones stored and scored.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    tasks, per_task, obs_dim, act_dim = _dims(env, params)
    params = {k: v.detach().clone(memory_format=torch.contiguous_format) for k, v in params.items()}
    dtype = params[policies.LOG_STD].dtype
    noise = action_noise(seed, env.num_envs, horizon, act_dim, dtype)
    if isinstance(env, PooledVecEnv):
        obs, actions, rewards, live = env.pool._sample(env, params, noise, seed=seed)
    else:
        obs, actions, rewards, live = _rollout(env, params, noise, seed=seed, per_task=per_task)
    taken = int(live.any(0).sum())  # steps until every episode had ended: score only those
    log_probs = torch.zeros(env.num_envs, horizon, dtype=dtype)
    log_probs[:, :taken] = policies.log_prob(params, obs[:, :taken].reshape(tasks, per_task * taken, obs_dim),
                                             actions[:, :taken].reshape(tasks, per_task * taken, act_dim)).view(-1, taken)
    log_probs = torch.where(live, log_probs, torch.zeros((), dtype=dtype))
    return Episodes(obs, actions, rewards, live.to(dtype), log_probs, torch.arange(env.num_envs) // per_task)


class PooledVecEnv:
    """A handle on a VectorEnv whose slots live in the worker processes of a ``SamplerPool``.

    It has the attributes the sampler and the meta-RL code read (``num_envs``, ``tasks``,
    ``episodes_per_task``, ``task_ids``, the single spaces, ``horizon``); pass it to
    ``sample_episodes``. Worker w holds whole tasks ``shares[w]`` = (first, stop), as a VectorEnv
    built from (family, tasks[first:stop], episodes_per_task) on its first use.
    """

    def __init__(self, pool: "SamplerPool", tasks, episodes_per_task: int):
        if isinstance(episodes_per_task, bool) or not isinstance(episodes_per_task, int) or episodes_per_task < 1:
            raise ValueError(f"episodes_per_task must be a positive integer, got {episodes_per_task!r}")
        from ..tasks.oracle import make_vec_env

        probe = make_vec_env(pool.family, tasks, 1, oracle=pool.oracle)  # checks every task, gives the spaces
        self.pool, self.key = pool, next(pool._keys)
        self.tasks, self.episodes_per_task = probe.tasks, episodes_per_task
        self.num_envs = len(self.tasks) * episodes_per_task
        self.task_ids = np.repeat(np.arange(len(self.tasks)), episodes_per_task)
        self.single_observation_space = probe.single_observation_space
        self.single_action_space = probe.single_action_space
        self.horizon = getattr(probe, "horizon", None)
        bounds = np.linspace(0, len(self.tasks), min(pool.workers, len(self.tasks)) + 1).round().astype(int)
        self.shares = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))

    def __repr__(self) -> str:
        return (f"<PooledVecEnv {self.pool.family_name}: {len(self.tasks)} tasks x {self.episodes_per_task} "
                f"episodes on {len(self.shares)} workers>")


class SamplerPool:
    """Long-lived worker processes that sample one task family's episodes in parallel.

        with SamplerPool("halfcheetah-vel") as pool:            # one worker per core
            env = pool.make_vec_env(tasks, episodes_per_task)   # instead of family.make_vec_env
            batch = sample_episodes(env, params, horizon=H, seed=0)

    With ``oracle=True`` the workers wrap their VectorEnvs in ``tasks.oracle.OracleVecEnv``, so the
    observations show the task, as the oracle baseline's do.

    Each worker is a fresh Python process (``spawn``) with torch on one thread; it builds the
    VectorEnv of its share of the tasks (whole tasks, so a task's episodes stay together) on first
    use and keeps the two most recent ones, runs the policy itself (a copy of the params travels
    with each call, with the action noise of its slots) and sends back the finished episodes, which
    are concatenated in task order. ``make_vec_env`` has the signature of a family's, so a pool's can
    be passed wherever a ``make_env`` is expected. Close the pool (``close()`` or the ``with`` block);
    its workers also end with the parent process.
    """

    CACHED_ENVS = 2  # VectorEnvs a worker keeps (e.g. the training and the evaluation batch)

    def __init__(self, family: str, workers: int | None = None, *, oracle: bool = False):
        from ..tasks import RL_FAMILIES  # the tasks package does not depend on rl/

        if family not in RL_FAMILIES:
            raise ValueError(f"unknown task family {family!r}; choose one of {sorted(RL_FAMILIES)}")
        if workers is None:
            workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer (or None for one per core), got {workers!r}")
        self.family_name, self.family, self.workers, self.oracle = family, RL_FAMILIES[family], workers, oracle
        self._keys = itertools.count()
        context = multiprocessing.get_context("spawn")
        self._conns, self._processes = [], []
        for _ in range(workers):
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child, family, oracle, self.CACHED_ENVS), daemon=True)
            process.start()
            child.close()
            self._conns.append(parent)
            self._processes.append(process)
        self._finalizer = weakref.finalize(self, _shutdown, self._conns, self._processes)

    def make_vec_env(self, tasks, episodes_per_task: int) -> PooledVecEnv:
        """A handle on ``family.make_vec_env(tasks, episodes_per_task)`` spread over the workers; the tasks
        are checked here."""
        self._check_open()
        return PooledVecEnv(self, tasks, episodes_per_task)

    def _check_open(self) -> None:
        if not self._finalizer.alive:
            raise RuntimeError("this SamplerPool is closed; make a new one")

    def _sample(self, env: PooledVecEnv, params: dict, noise: torch.Tensor, *, seed: int) -> tuple:
        """Every worker rolls out its share of ``env``; (s, a, r, running) concatenated in slot order."""
        self._check_open()
        if env.pool is not self:
            raise ValueError("this env belongs to another SamplerPool")
        per_task = env.episodes_per_task
        params = {k: v.numpy() for k, v in params.items()}  # every worker acts with the whole batch's params
        try:
            for conn, (first, stop) in zip(self._conns, env.shares):
                conn.send((env.key, env.tasks[first:stop], per_task, first * per_task, params, seed,
                           noise[:, first * per_task: stop * per_task].numpy()))
            replies = [conn.recv() for conn, _ in zip(self._conns, env.shares)]
        except BaseException as error:  # a dead worker or an interrupt: the pipes are out of step
            self.close()
            if isinstance(error, (EOFError, OSError)):
                raise RuntimeError("a sampler worker process died; the pool is closed, make a new one") from error
            raise
        for status, payload in replies:
            if status == "error":
                raise payload
        return tuple(torch.cat([torch.from_numpy(payload[j]) for _, payload in replies]) for j in range(4))

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        self._finalizer()

    def __enter__(self) -> "SamplerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._finalizer.alive else "closed"
        oracle = " (oracle observations)" if self.oracle else ""
        return f"<SamplerPool {self.family_name!r}{oracle}: {self.workers} workers, {state}>"


def _shutdown(conns, processes) -> None:
    for conn in conns:
        try:
            conn.send(None)
        except (OSError, ValueError):
            pass
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.terminate()
            process.join()
    for conn in conns:
        conn.close()


def _serve(conn, family: str, oracle: bool, cached: int) -> None:
    """A worker's loop: build (or reuse) the VectorEnv of its share, roll out, send the episodes back.
    It ends on the parent's None, or quietly when the parent is gone (a killed run closes the pipe)."""
    torch.set_num_threads(1)
    from ..tasks import RL_FAMILIES

    family, envs = RL_FAMILIES[family], {}
    try:
        while (message := conn.recv()) is not None:
            conn.send(_reply(message, family, oracle, cached, envs))
    except (EOFError, OSError):
        return  # the parent died: nobody is left to report to


def _reply(message: tuple, family, oracle: bool, cached: int, envs: dict) -> tuple:
    """("ok", the (s, a, r, running) columns of the message's rollout) or ("error", a picklable error),
    with the worker's last ``cached`` VectorEnvs kept in ``envs``."""
    from ..tasks.oracle import make_vec_env

    key, tasks, per_task, first_slot, params, seed, noise = message
    try:
        if key not in envs:
            envs[key] = make_vec_env(family, tasks, per_task, oracle=oracle, first_slot=first_slot)
            while len(envs) > cached:
                envs.pop(next(iter(envs)))
        params = {k: torch.tensor(v) for k, v in params.items()}  # fresh (aligned) tensors, see task_means
        with torch.no_grad():
            columns = _rollout(envs[key], params, torch.from_numpy(noise), seed=seed, per_task=per_task,
                               first_slot=first_slot)
        return "ok", [column.numpy() for column in columns]
    except Exception as error:  # noqa: BLE001  (sent to the parent, which raises it)
        try:
            pickle.dumps(error)
        except Exception:  # noqa: BLE001  (an exception that does not pickle: its type and message)
            error = RuntimeError(f"{type(error).__name__}: {error}")
        return "error", error
