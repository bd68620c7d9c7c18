"""The reward and the REINFORCE losses of the temporal attention (paper eq. 15-17).

Kept as plain functions of tensors so that tests can check them against hand-computed values and the
models' `train_step` reads as the equations.
"""

import keras


def episode_reward(correct, glimpse_count, reward_scale, reward_correct, reward_wrong, sparsity_weight):
    """R = lambda_r R' + lambda_sparse N (eq. 17) with R' = lambda_tp if correct else lambda_fp (eq. 16).

    Args:
        correct: bool or 0/1 tensor [B], whether the final prediction matches the label.
        glimpse_count: int or float tensor [B], N, the glimpses the sample took.
        reward_scale: lambda_r (> 0).
        reward_correct: lambda_tp (> 0).
        reward_wrong: lambda_fp (< 0).
        sparsity_weight: lambda_sparse (<= 0), the price of one glimpse.

    Returns:
        float32 tensor [B].
    """
    correct = keras.ops.cast(correct, "float32")
    outcome = correct * reward_correct + (1.0 - correct) * reward_wrong
    return reward_scale * outcome + sparsity_weight * keras.ops.cast(glimpse_count, "float32")


def reinforce_loss(log_probs, baselines, rewards, action_mask):
    """The policy-gradient surrogate loss with a learned baseline (eq. 15 with variance reduction).

        loss = - 1/B sum_b sum_a mask_ba * log pi(a_ba) * stop_gradient(R_b - baseline_ba)

    Its gradient is minus the Monte-Carlo estimate of grad W(theta); it reaches only what log pi depends
    on (the location network's mean), never the baseline.

    Args:
        log_probs: float tensor [B, A], log-probability of each action (location) under the policy.
        baselines: float tensor [B, A], the baseline predicted in the state the action was taken in.
        rewards: float tensor [B], the episode reward R.
        action_mask: float tensor [B, A], 1 for actions the sample really took.

    Returns:
        float32 scalar.
    """
    advantage = keras.ops.stop_gradient(rewards[:, None] - baselines)
    per_sample = keras.ops.sum(log_probs * advantage * action_mask, axis=-1)
    return -keras.ops.mean(per_sample)


def baseline_loss(baselines, rewards, action_mask):
    """Mean squared error of the baseline against the episode reward, over the actions taken.

    Args:
        baselines: float tensor [B, A].
        rewards: float tensor [B].
        action_mask: float tensor [B, A].

    Returns:
        float32 scalar; only the baseline network receives its gradient (the reward is a constant).
    """
    squared_error = keras.ops.square(keras.ops.stop_gradient(rewards)[:, None] - baselines) * action_mask
    return keras.ops.sum(squared_error) / keras.ops.maximum(keras.ops.sum(action_mask), 1.0)
