"""The PPO math of `reft_trl.trainers.ppo_math` against values worked out by hand (B=2, T=4, second row padded)."""

from __future__ import annotations

import math
import socket
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from reft_trl.trainers.ppo_math import (
    compute_gae,
    explained_variance,
    kl_penalty,
    kl_shaped_rewards,
    masked_mean,
    masked_var,
    masked_whiten,
    policy_loss,
    value_loss,
)

# Row 0 is a full completion of 4 tokens, row 1 a completion of 2 tokens followed by 2 padding positions.
MASK = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])


def close(actual, expected, atol=1e-6):
    torch.testing.assert_close(torch.as_tensor(actual, dtype=torch.float32), torch.tensor(expected), atol=atol, rtol=0)


# masked_mean / masked_var / masked_whiten
# Valid entries 1, 2, 3, 4, 5, 6: mean 3.5, squared deviations 6.25 + 2.25 + 0.25 + 0.25 + 2.25 + 6.25 = 17.5.
STATS_VALUES = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 100.0, float("nan")]])


def test_masked_mean_ignores_padding():
    close(masked_mean(STATS_VALUES, MASK), 3.5)  # (10 + 11) / 6
    close(masked_mean(STATS_VALUES, MASK, dim=1), [2.5, 5.5])
    close(masked_mean(STATS_VALUES, MASK.bool(), dim=0), [3.0, 4.0, 3.0, 4.0])


def test_masked_mean_of_empty_mask_is_zero():
    close(masked_mean(STATS_VALUES, torch.zeros_like(MASK)), 0.0)
    close(masked_mean(STATS_VALUES, torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]]), dim=1), [1.5, 0.0])


def test_masked_var_unbiased_and_biased():
    close(masked_var(STATS_VALUES, MASK), 3.5)  # 17.5 / (6 - 1)
    close(masked_var(STATS_VALUES, MASK, unbiased=False), 17.5 / 6)


def test_masked_var_gradient_ignores_nan_padding():
    values = STATS_VALUES.clone().requires_grad_()
    masked_var(values, MASK).backward()
    # d var / d x = 2 (x - 3.5) / 5
    close(values.grad, [[-1.0, -0.6, -0.2, 0.2], [0.6, 1.0, 0.0, 0.0]])


def test_masked_var_of_fewer_than_two_tokens_is_zero():
    one_token = torch.tensor([[0, 0, 1, 0], [0, 0, 0, 0]])
    close(masked_var(STATS_VALUES, one_token), 0.0)
    close(masked_var(STATS_VALUES, torch.zeros_like(MASK)), 0.0)


def test_masked_whiten_has_mean_zero_var_one_and_zero_padding():
    whitened = masked_whiten(STATS_VALUES, MASK)
    scale = 1 / math.sqrt(3.5 + 1e-8)
    close(whitened, [[-2.5 * scale, -1.5 * scale, -0.5 * scale, 0.5 * scale], [1.5 * scale, 2.5 * scale, 0.0, 0.0]])
    close(masked_mean(whitened, MASK), 0.0)
    close(masked_var(whitened, MASK), 1.0)


def test_masked_whiten_without_shift_keeps_the_mean():
    whitened = masked_whiten(STATS_VALUES, MASK, shift_mean=False)
    scale = 1 / math.sqrt(3.5 + 1e-8)
    close(whitened[0], [3.5 - 2.5 * scale, 3.5 - 1.5 * scale, 3.5 - 0.5 * scale, 3.5 + 0.5 * scale])
    close(whitened[1, 2:], [0.0, 0.0])
    close(masked_mean(whitened, MASK), 3.5)


def test_statistics_of_bfloat16_values_count_every_token():
    # 1000 ones in bfloat16: a bfloat16 running count would stop at 256
    values = torch.ones(1, 1000, dtype=torch.bfloat16)
    mean = masked_mean(values, torch.ones(1, 1000))
    assert mean.dtype == torch.bfloat16
    close(mean.float(), 1.0)


# kl_penalty
# log p = [-1, -2], log p_ref = [-1.5, -1]  =>  log r = log p_ref - log p = [-0.5, 1].
LOGP = torch.tensor([[-1.0, -2.0]])
REF_LOGP = torch.tensor([[-1.5, -1.0]])


def test_kl_k1():
    close(kl_penalty(LOGP, REF_LOGP), [[0.5, -1.0]])  # log p - log p_ref


def test_kl_k3():
    # (r - 1) - log r: e^-0.5 = 0.60653066 -> -0.39346934 + 0.5; e^1 = 2.71828183 -> 1.71828183 - 1
    close(kl_penalty(LOGP, REF_LOGP, "k3"), [[0.10653066, 0.71828183]])


def test_kl_unknown_estimator_lists_valid_names():
    with pytest.raises(ValueError, match="k1, k3"):
        kl_penalty(LOGP, REF_LOGP, "k4")


# kl_shaped_rewards
def test_kl_shaped_rewards_put_the_score_on_the_last_completion_token():
    scores = torch.tensor([1.0, 0.1])
    kl = torch.tensor([[0.2, -0.1, 0.0, 0.4], [0.3, 0.5, 2.0, 2.0]])
    rewards = kl_shaped_rewards(scores, kl, MASK, kl_coef=0.05)
    # row 0: -0.05 * kl = [-0.01, 0.005, 0, -0.02], score 1.0 on t=3
    # row 1: -0.05 * kl = [-0.015, -0.025], score 0.1 on t=1; padding stays 0 despite kl = 2
    close(rewards, [[-0.01, 0.005, 0.0, 0.98], [-0.015, 0.075, 0.0, 0.0]])


def test_kl_shaped_rewards_with_an_offset_mask_and_an_empty_row():
    scores = torch.tensor([0.1, 1.0])
    kl = torch.ones(2, 4)
    mask = torch.tensor([[0, 1, 1, 0], [0, 0, 0, 0]])
    rewards = kl_shaped_rewards(scores, kl, mask, kl_coef=0.5)
    close(rewards, [[0.0, -0.5, -0.4, 0.0], [0.0, 0.0, 0.0, 0.0]])


# compute_gae
# Row 0: r = [0.1, 0, -0.2, 1], V = [0.4, 0.6, 0.5, 0.8]; row 1: r = [0, 0.5], V = [0.2, 0.3], then padding that
# holds large values, which must not reach the valid tokens.
GAE_REWARDS = torch.tensor([[0.1, 0.0, -0.2, 1.0], [0.0, 0.5, 9.0, 9.0]])
GAE_VALUES = torch.tensor([[0.4, 0.6, 0.5, 0.8], [0.2, 0.3, 7.0, 7.0]])


def test_gae_gamma_1_lam_095():
    advantages, returns = compute_gae(GAE_REWARDS, GAE_VALUES, MASK, gamma=1.0, lam=0.95)
    # row 0, from the end (V after the last token is 0):
    #   t=3: delta = 1.0 + 0 - 0.8 = 0.2                   A3 = 0.2
    #   t=2: delta = -0.2 + 0.8 - 0.5 = 0.1                A2 = 0.1 + 0.95 * 0.2 = 0.29
    #   t=1: delta = 0.0 + 0.5 - 0.6 = -0.1                A1 = -0.1 + 0.95 * 0.29 = 0.1755
    #   t=0: delta = 0.1 + 0.6 - 0.4 = 0.3                 A0 = 0.3 + 0.95 * 0.1755 = 0.466725
    # row 1:
    #   t=1: delta = 0.5 + 0 - 0.3 = 0.2                   A1 = 0.2
    #   t=0: delta = 0.0 + 0.3 - 0.2 = 0.1                 A0 = 0.1 + 0.95 * 0.2 = 0.29
    close(advantages, [[0.466725, 0.1755, 0.29, 0.2], [0.29, 0.2, 0.0, 0.0]])
    # returns = advantages + values
    close(returns, [[0.866725, 0.7755, 0.79, 1.0], [0.49, 0.5, 0.0, 0.0]])


def test_gae_with_lam_1_gives_monte_carlo_returns():
    _, returns = compute_gae(GAE_REWARDS, GAE_VALUES, MASK, gamma=1.0, lam=1.0)
    # reward-to-go: row 0 [0.1 + 0 - 0.2 + 1, 0 - 0.2 + 1, -0.2 + 1, 1], row 1 [0 + 0.5, 0.5]
    close(returns, [[0.9, 0.8, 0.8, 1.0], [0.5, 0.5, 0.0, 0.0]])


def test_gae_discounts_with_gamma():
    advantages, _ = compute_gae(GAE_REWARDS, GAE_VALUES, MASK, gamma=0.9, lam=1.0)
    # row 1: A1 = 0.5 - 0.3 = 0.2; delta0 = 0 + 0.9 * 0.3 - 0.2 = 0.07, A0 = 0.07 + 0.9 * 0.2 = 0.25
    close(advantages[1], [0.25, 0.2, 0.0, 0.0])


def test_gae_carries_no_gradient():
    values = GAE_VALUES.clone().requires_grad_()
    advantages, returns = compute_gae(GAE_REWARDS, values, MASK)
    assert not advantages.requires_grad
    assert not returns.requires_grad


# policy_loss
# Ratios [1.5, 0.5, 1.1, 0.7] with advantages [1, 1, -1, -1] on row 0; ratio 1 with advantage 2 on row 1, whose
# padding holds a log-probability of 20 (ratio e^20) that must not leak. cliprange 0.2:
#   t  ratio  A   pg_loss1  pg_loss2           max    clipped branch active
#   0  1.5    1   -1.5      -1 * 1.2 = -1.2    -1.2   yes
#   1  0.5    1   -0.5      -1 * 0.8 = -0.8    -0.5   no
#   2  1.1   -1    1.1       1.1                1.1   no
#   3  0.7   -1    0.7       0.8                0.8   yes
#   0' 1.0    2   -2.0      -2.0               -2.0   no
# pg_loss = (-1.2 - 0.5 + 1.1 + 0.8 - 2.0) / 5 = -0.36, clipfrac = 2 / 5.
OLD_LOGPROBS = torch.tensor([[-1.0, -2.0, -0.5, -3.0], [-1.0, -4.0, 0.0, 0.0]])
RATIOS = [[1.5, 0.5, 1.1, 0.7], [1.0, math.exp(20.0), 1.0, 1.0]]
PG_ADVANTAGES = torch.tensor([[1.0, 1.0, -1.0, -1.0], [2.0, 5.0, 0.0, 0.0]])
PG_MASK = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]])


def new_logprobs():
    return (OLD_LOGPROBS + torch.log(torch.tensor(RATIOS))).requires_grad_()


def test_policy_loss_value_and_stats():
    pg_loss, stats = policy_loss(new_logprobs(), OLD_LOGPROBS, PG_ADVANTAGES, PG_MASK, cliprange=0.2)
    close(pg_loss, -0.36)
    close(stats["clipfrac"], 0.4)
    close(stats["ratio_mean"], 0.96)  # (1.5 + 0.5 + 1.1 + 0.7 + 1.0) / 5
    # (r - 1) - log r: 0.5 - 0.40546511, -0.5 + 0.69314718, 0.1 - 0.09531018, -0.3 + 0.35667494, 0
    close(stats["approx_kl"], (0.09453489 + 0.19314718 + 0.00468982 + 0.05667494) / 5)


def test_policy_loss_gradient_is_zero_where_clipped():
    logprobs = new_logprobs()
    pg_loss, _ = policy_loss(logprobs, OLD_LOGPROBS, PG_ADVANTAGES, PG_MASK, cliprange=0.2)
    pg_loss.backward()
    # d/dlogp of -A * ratio / 5 is -A * ratio / 5 on unclipped tokens: -0.5 / 5, 1.1 / 5, -2 / 5
    close(logprobs.grad, [[0.0, -0.1, 0.22, 0.0], [-0.4, 0.0, 0.0, 0.0]])


# value_loss
# cliprange_value 0.2, row 0 then the single valid token of row 1:
#   old   new   return  v_clipped  unclipped  clipped  max    clipped branch wins
#   0.5   1.0   1.0     0.7        0.0        0.09     0.09   yes
#   0.5   0.6   1.0     0.6        0.16       0.16     0.16   no (equal)
#   0.5   1.0   0.0     0.7        1.0        0.49     1.0    no
#   0.0  -0.5  -1.0    -0.2        0.25       0.64     0.64   yes
#   0.0   0.3  -0.1     0.2        0.16       0.09     0.16   no
# vf_loss = 0.5 * (0.09 + 0.16 + 1.0 + 0.64 + 0.16) / 5 = 0.5 * 0.41 = 0.205, vf_clipfrac = 2 / 5.
OLD_VALUES = torch.tensor([[0.5, 0.5, 0.5, 0.0], [0.0, 3.0, 3.0, 3.0]])
NEW_VALUES = torch.tensor([[1.0, 0.6, 1.0, -0.5], [0.3, -9.0, -9.0, -9.0]])
VF_RETURNS = torch.tensor([[1.0, 1.0, 0.0, -1.0], [-0.1, 0.0, 0.0, 0.0]])


def test_value_loss_value_and_clipfrac():
    values = NEW_VALUES.clone().requires_grad_()
    vf_loss, stats = value_loss(values, OLD_VALUES, VF_RETURNS, PG_MASK, cliprange_value=0.2)
    close(vf_loss, 0.205)
    close(stats["vf_clipfrac"], 0.4)
    vf_loss.backward()
    # where the clipped error wins, the value is outside the clip range and gets no gradient;
    # elsewhere d/dv 0.5 * (v - R)^2 / 5 = (v - R) / 5: (0.6 - 1) / 5, (1 - 0) / 5, (0.3 + 0.1) / 5
    close(values.grad, [[0.0, -0.08, 0.2, 0.0], [0.08, 0.0, 0.0, 0.0]])


# explained_variance
EV_RETURNS = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
EV_MASK = torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0]])


def test_explained_variance_of_perfect_and_constant_critics():
    close(explained_variance(EV_RETURNS, EV_RETURNS, EV_MASK), 1.0)
    close(explained_variance(torch.full((2, 4), 2.5), EV_RETURNS, EV_MASK), 0.0)


def test_explained_variance_by_hand():
    values = torch.tensor([[1.0, 2.0, 3.0, 3.0], [5.0, 5.0, 5.0, 5.0]])
    # residuals [0, 0, 0, 1]: mean 0.25, var (3 * 0.0625 + 0.5625) / 3 = 0.25; var of returns 5 / 3
    close(explained_variance(values, EV_RETURNS, EV_MASK), 1 - 0.25 / (5 / 3))


def test_explained_variance_of_constant_returns_is_finite():
    returns = torch.ones(1, 3)
    close(explained_variance(returns, returns, torch.ones(1, 3)), 1.0)
    close(explained_variance(torch.zeros(1, 3), returns, torch.ones(1, 3)), 1.0)  # an offset has no variance
    close(explained_variance(torch.tensor([[0.0, 1.0, 2.0]]), returns, torch.ones(1, 3)), 0.0)


# across_processes: two gloo processes, each with its own number of valid tokens, against one process that holds
# the tokens of both.
RANK_VALUES = [
    torch.tensor([[1.0, 2.0, 3.0, 7.0], [4.0, 8.0, 8.0, 8.0]]),  # valid: 1, 2, 3, 4
    torch.tensor([[5.0, 6.0, 9.0], [10.0, 0.0, 0.0], [-2.0, 11.0, 0.0]]),  # valid: 5, 6, 9, 10, -2, 11
]
RANK_MASKS = [
    torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]]),
    torch.tensor([[1, 1, 1], [1, 0, 0], [1, 1, 0]]),
]


def _distributed_worker(rank, world_size, port, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size, timeout=timedelta(seconds=60)
    )
    try:
        values, mask = RANK_VALUES[rank].clone().requires_grad_(), RANK_MASKS[rank]
        mean = masked_mean(values, mask, across_processes=True)
        mean.backward()
        result = {
            "mean": mean.detach(),
            "mean_grad": values.grad,
            "var": masked_var(values.detach(), mask, across_processes=True),
            "biased_var": masked_var(values.detach(), mask, unbiased=False, across_processes=True),
            "whitened": masked_whiten(values.detach(), mask, across_processes=True),
            "explained_variance": explained_variance(
                torch.zeros_like(values), values.detach(), mask, across_processes=True
            ),
            # rank 1 has no valid token here: the mean is rank 0's
            "mean_one_rank_empty": masked_mean(values.detach(), mask * (rank == 0), across_processes=True),
        }
        torch.save(result, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_across_processes_matches_one_process_on_concatenated_tokens(tmp_path):
    mp.spawn(_distributed_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]

    flat_values = torch.cat([values.flatten() for values in RANK_VALUES])
    flat_mask = torch.cat([mask.flatten() for mask in RANK_MASKS])
    # the 10 valid tokens: 1, 2, 3, 4, 5, 6, 9, 10, -2, 11 -> mean 4.9
    close(masked_mean(flat_values, flat_mask), 4.9)
    flat_whitened = masked_whiten(flat_values, flat_mask).split([values.numel() for values in RANK_VALUES])
    for rank, result in enumerate(results):
        close(result["mean"], masked_mean(flat_values, flat_mask).item())
        close(result["mean_grad"], (RANK_MASKS[rank] / 10).tolist())  # d mean / d x = 1 / 10 on valid tokens
        close(result["var"], masked_var(flat_values, flat_mask).item(), atol=1e-5)
        close(result["biased_var"], masked_var(flat_values, flat_mask, unbiased=False).item(), atol=1e-5)
        close(result["whitened"], flat_whitened[rank].reshape(RANK_VALUES[rank].shape).tolist(), atol=1e-5)
        close(result["explained_variance"], 0.0, atol=1e-6)
        close(result["mean_one_rank_empty"], 2.5)  # (1 + 2 + 3 + 4) / 4
