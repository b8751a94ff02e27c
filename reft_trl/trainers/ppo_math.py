"""The RL math of ReFT's PPO stage as pure functions on tensors: KL-shaped rewards, GAE, whitening, clipped losses.

ReFT (Luong et al., ACL 2024, https://arxiv.org/abs/2401.08967) trains the policy with PPO (Schulman et al. 2017,
https://arxiv.org/abs/1707.06347). The reward of a sampled completion is a per-token KL penalty towards the SFT
reference model plus the answer score on the last completion token. Advantages come from GAE
(Schulman et al. 2016, https://arxiv.org/abs/1506.02438), the policy and the critic are trained with clipped losses.

Shapes: `B` rows (completions), `T` token positions, `V` vocabulary entries. A `mask` is `(B, T)` with 1 on completion
tokens and 0 on padding (bool, int or float). Padding may hold any finite or non-finite value: every reduction selects
completion tokens with `torch.where`, so padding never reaches a result or a gradient.

>>> import torch
>>> mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
>>> kl = kl_penalty(torch.full((2, 3), -1.0), torch.full((2, 3), -1.5))  # k1: logp - ref_logp = 0.5
>>> rewards = kl_shaped_rewards(torch.tensor([1.0, 0.0]), kl, mask, kl_coef=0.1)
>>> rewards
tensor([[-0.0500, -0.0500,  0.9500],
        [-0.0500, -0.0500,  0.0000]])
>>> advantages, returns = compute_gae(rewards, torch.zeros(2, 3), mask, gamma=1.0, lam=1.0)
>>> returns
tensor([[ 0.8500,  0.9000,  0.9500],
        [-0.1000, -0.0500,  0.0000]])
"""

from __future__ import annotations

import torch
import torch.distributed as dist

KL_ESTIMATORS = ("k1", "k3")
"""The per-token KL estimators of `kl_penalty` (and `ReFTPPOConfig.kl_estimator`), after
http://joschu.net/blog/kl-approx.html."""

WHITEN_EPS = 1e-8
"""Added to the variance before `rsqrt` in `masked_whiten`, as in TRL and the ReFT code."""


def _stats_dtype(dtype: torch.dtype) -> torch.dtype:
    """Accumulate sums and token counts in at least float32 (a bfloat16 count is inexact beyond 256 tokens)."""
    return torch.promote_types(dtype, torch.float32)


def _sum_across_processes(tensor: torch.Tensor) -> torch.Tensor:
    """Sum `tensor` over all processes; identity when `torch.distributed` is not initialized.

    The other processes' share enters as a constant, so gradients flow through this process's own terms.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return tensor
    total = tensor.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return tensor + (total - tensor.detach())


def _masked_sum_and_count(
    values: torch.Tensor, mask: torch.Tensor, dim: int | tuple[int, ...] | None, across_processes: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """`(sum of values where mask, number of mask entries)` in float32 or wider, reduced over `dim` (all if None)."""
    mask = mask.bool()
    values = torch.where(mask, values.to(_stats_dtype(values.dtype)), 0.0)
    count = mask.to(values.dtype)
    if dim is None:
        total, count = values.sum(), count.sum()
    else:
        total, count = values.sum(dim=dim), count.sum(dim=dim)
    if across_processes:
        total, count = _sum_across_processes(torch.stack([total, count])).unbind(0)
    return total, count


def _masked_mean_and_var(
    values: torch.Tensor, mask: torch.Tensor, unbiased: bool, across_processes: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked mean and variance over all entries, in float32 or wider; the variance is taken about the global mean."""
    total, count = _masked_sum_and_count(values, mask, None, across_processes)
    mean = total / count.clamp(min=1)
    centred = torch.where(mask.bool(), values.to(mean.dtype) - mean, 0.0)
    centred_sum_sq = (centred**2).sum()
    if across_processes:
        centred_sum_sq = _sum_across_processes(centred_sum_sq)
    # Bessel's correction n / (n - 1); with fewer than two tokens the centred sum is 0 and so is the variance
    dof = count - 1 if unbiased else count
    return mean, centred_sum_sq / dof.clamp(min=1)


def masked_mean(
    values: torch.Tensor,
    mask: torch.Tensor,
    dim: int | tuple[int, ...] | None = None,
    across_processes: bool = False,
) -> torch.Tensor:
    """Mean of `values` over the entries where `mask` is set.

    Args:
        values: `(B, T)` (any shape).
        mask: same shape as `values`.
        dim: dimension(s) to reduce; `None` reduces everything to a scalar.
        across_processes: average over the entries of every process (sums and counts all-reduced), so processes
            may hold different numbers of tokens; with `dim` set, the reduced shapes must match across processes.

    Returns:
        The mean, shaped like `values.sum(dim)`, in `values.dtype`; 0 where the mask selects nothing.
    """
    total, count = _masked_sum_and_count(values, mask, dim, across_processes)
    return (total / count.clamp(min=1)).to(values.dtype)


def masked_var(
    values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True, across_processes: bool = False
) -> torch.Tensor:
    """Variance of `values` over the entries where `mask` is set (a scalar).

    Args:
        values: `(B, T)` (any shape).
        mask: same shape as `values`.
        unbiased: divide the centred sum of squares by `n - 1` instead of `n`.
        across_processes: variance of the entries of every process: the global mean first, then the global
            centred sum of squares (exact, not an average of per-process variances).

    Returns:
        The variance in `values.dtype`; 0 when fewer than two entries (unbiased) or none (biased) are selected.
    """
    _, var = _masked_mean_and_var(values, mask, unbiased, across_processes)
    return var.to(values.dtype)


def masked_whiten(
    values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, across_processes: bool = False
) -> torch.Tensor:
    """Normalise the masked entries of `values` to mean 0 and (unbiased) variance 1: `(x - mean) * rsqrt(var + eps)`.

    Args:
        values: `(B, T)` (any shape).
        mask: same shape as `values`.
        shift_mean: keep the mean removed; `False` adds the mean back, scaling only (TRL's `whiten_rewards`).
        across_processes: use the mean and variance of the entries of every process.

    Returns:
        `(B, T)` whitened values in `values.dtype`, 0 where `mask` is 0.
    """
    mask = mask.bool()
    mean, var = _masked_mean_and_var(values, mask, unbiased=True, across_processes=across_processes)
    whitened = torch.where(mask, values - mean, 0.0) * torch.rsqrt(var + WHITEN_EPS)
    if not shift_mean:
        whitened = torch.where(mask, whitened + mean, 0.0)
    return whitened.to(values.dtype)


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Per-token estimate of KL(policy || reference) from the log-probabilities of the sampled tokens.

    With `log r = ref_logprobs - logprobs` (http://joschu.net/blog/kl-approx.html):
    k1 = -log r (unbiased; ReFT's choice), k3 = (r - 1) - log r (unbiased, low variance, never negative).

    Args:
        logprobs: `(B, T)` log-probabilities of the sampled tokens under the policy.
        ref_logprobs: `(B, T)` log-probabilities of the same tokens under the reference model.
        estimator: one of `KL_ESTIMATORS`.

    Returns:
        `(B, T)` per-token KL estimates (padding is not masked here).
    """
    logr = ref_logprobs - logprobs
    if estimator == "k1":
        return -logr
    if estimator == "k3":
        return (torch.exp(logr) - 1) - logr
    raise ValueError(f"Unknown KL estimator {estimator!r}; valid names are {', '.join(KL_ESTIMATORS)}.")


def kl_shaped_rewards(scores: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """Per-token rewards: a KL penalty on every completion token, plus the sequence score on the last one.

    ReFT's total reward: r_t = -kl_coef * KL_t, and r_T += score on the last completion token T of each row.

    Args:
        scores: `(B,)` sequence scores (e.g. 1 correct, 0.1 extractable but wrong, 0 otherwise).
        kl: `(B, T)` per-token KL estimates (`kl_penalty`).
        mask: `(B, T)` completion mask; the last completion token is the last position where it is set.
        kl_coef: weight of the KL penalty (ReFT's beta).

    Returns:
        `(B, T)` rewards, 0 on padding; a row with no completion token gets no reward at all.
    """
    mask = mask.bool()
    rewards = torch.where(mask, -kl_coef * kl, 0.0)
    positions = torch.arange(mask.shape[1], device=mask.device)
    last_token = torch.where(mask, positions, -1).amax(dim=1)  # (B,), -1 for a row without completion tokens
    is_last_token = positions == last_token.unsqueeze(1)  # (B, T)
    return rewards + torch.where(is_last_token, scores.to(rewards.dtype).unsqueeze(1), 0.0)


@torch.no_grad()
def compute_gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over each row's completion tokens.

    GAE, Schulman et al. 2016, eq. 16: A_t = sum_l (gamma * lam)^l delta_{t+l},
    with the TD residual delta_t = r_t + gamma * V_{t+1} - V_t. The completion ends after its last
    completion token, so V is 0 beyond it; padding neither receives nor passes on advantage.

    Args:
        rewards: `(B, T)` per-token rewards (`kl_shaped_rewards`).
        values: `(B, T)` critic values V_t of the rollout.
        mask: `(B, T)` completion mask.
        gamma: discount factor (ReFT: 1).
        lam: GAE lambda (ReFT: 0.95).

    Returns:
        `(advantages, returns)`, both `(B, T)` and 0 on padding, with `returns = advantages + values` (the
        lambda-returns the critic regresses to).
    """
    mask = mask.bool()
    values = torch.where(mask, values, 0.0)
    rewards = torch.where(mask, rewards, 0.0)
    gen_length = rewards.shape[1]
    lastgaelam = torch.zeros_like(values[:, 0])
    advantages_reversed = []
    for t in reversed(range(gen_length)):
        if t < gen_length - 1:
            nextnonterminal = mask[:, t + 1].to(values.dtype)
            nextvalues = values[:, t + 1]
        else:
            nextnonterminal = torch.zeros_like(lastgaelam)
            nextvalues = torch.zeros_like(lastgaelam)
        delta = rewards[:, t] + gamma * nextvalues * nextnonterminal - values[:, t]
        lastgaelam = delta + gamma * lam * nextnonterminal * lastgaelam
        advantages_reversed.append(lastgaelam)
    advantages = torch.where(mask, torch.stack(advantages_reversed[::-1], dim=1), 0.0)
    returns = advantages + values
    return advantages, returns


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cliprange: float = 0.2,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's clipped surrogate objective as a loss, averaged over completion tokens.

    PPO, Schulman et al. 2017, eq. 7: L^CLIP = E_t[min(ratio_t A_t, clip(ratio_t, 1 - eps, 1 + eps) A_t)],
    with ratio_t = pi(a_t | s_t) / pi_old(a_t | s_t); the loss is its negation.

    Args:
        logprobs: `(B, T)` log-probabilities of the sampled tokens under the current policy (with gradient).
        old_logprobs: `(B, T)` the same under the rollout policy.
        advantages: `(B, T)` advantages (usually whitened).
        mask: `(B, T)` completion mask.
        cliprange: PPO's epsilon.
        weights: optional `(B, T)` or `(B, 1)` per-token weights of the loss, e.g. the importance-sampling ratio
            pi_old / pi_sampler that corrects for a sampler (vLLM) whose probabilities differ from the trainer's.

    Returns:
        `(pg_loss, stats)`: the scalar loss and detached scalars `clipfrac` (share of tokens where the clipped
        branch is the active one, so the token gives no gradient), `approx_kl` and `ratio_mean`.
    """
    mask = mask.bool()
    logratio = torch.where(mask, logprobs - old_logprobs, 0.0)
    ratio = torch.exp(logratio)

    # Policy loss
    pg_loss1 = -advantages * ratio
    pg_loss2 = -advantages * torch.clamp(ratio, 1 - cliprange, 1 + cliprange)
    pg_losses = torch.max(pg_loss1, pg_loss2)
    if weights is not None:
        pg_losses = pg_losses * weights
    pg_loss = masked_mean(pg_losses, mask)

    with torch.no_grad():
        # KL(pi_old || pi) estimated as (ratio - 1) - log ratio, http://joschu.net/blog/kl-approx.html
        approx_kl = masked_mean((ratio - 1) - logratio, mask)
        clipfrac = masked_mean((pg_loss2 > pg_loss1).float(), mask)
        ratio_mean = masked_mean(ratio, mask)
    return pg_loss, {"clipfrac": clipfrac, "approx_kl": approx_kl, "ratio_mean": ratio_mean}


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    cliprange_value: float = 0.2,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped squared-error loss of the critic, averaged over completion tokens.

    The value prediction may move at most `cliprange_value` from the rollout's value; the loss is the larger of the
    clipped and unclipped squared errors (as in OpenAI baselines' PPO2, cleanrl and TRL).

    Args:
        values: `(B, T)` current critic values (with gradient).
        old_values: `(B, T)` critic values of the rollout.
        returns: `(B, T)` lambda-returns from `compute_gae`.
        mask: `(B, T)` completion mask.
        cliprange_value: largest move of a value away from `old_values` that is rewarded.

    Returns:
        `(vf_loss, stats)`: the scalar loss `0.5 * mean(max(...))` and the detached scalar `vf_clipfrac` (share of
        tokens where the clipped error is the larger one).
    """
    # Value loss
    v_loss_unclipped = (values - returns) ** 2
    v_clipped = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    v_loss_clipped = (v_clipped - returns) ** 2
    v_loss_max = torch.max(v_loss_unclipped, v_loss_clipped)
    vf_loss = 0.5 * masked_mean(v_loss_max, mask)

    with torch.no_grad():
        vf_clipfrac = masked_mean((v_loss_clipped > v_loss_unclipped).float(), mask)
    return vf_loss, {"vf_clipfrac": vf_clipfrac}


def explained_variance(
    values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, across_processes: bool = False
) -> torch.Tensor:
    """How much of the variance of the returns the critic explains: 1 - Var[returns - values] / Var[returns].

    1 is a perfect critic, 0 one no better than a constant, negative one worse than a constant. When the returns
    are constant the ratio is undefined; like scikit-learn's `explained_variance_score(force_finite=True)` this
    returns 1 if the residuals are constant too (a variance measure ignores a constant offset) and 0 otherwise.

    Args:
        values: `(B, T)` critic values.
        returns: `(B, T)` returns from `compute_gae`.
        mask: `(B, T)` completion mask.
        across_processes: use the variances over the tokens of every process.

    Returns:
        A detached scalar in float32 or wider.
    """
    returns = returns.detach().to(_stats_dtype(returns.dtype))
    residuals = returns - values.detach().to(returns.dtype)
    var_returns = masked_var(returns, mask, across_processes=across_processes)
    var_residuals = masked_var(residuals, mask, across_processes=across_processes)
    if_constant_returns = (var_residuals == 0).to(returns.dtype)
    return torch.where(var_returns > 0, 1 - var_residuals / var_returns, if_constant_returns)
