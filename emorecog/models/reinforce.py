"""The rewards and the REINFORCE losses of the temporal attention (paper eq. 15-17, with shaping).

Kept as plain functions of tensors so that tests can check them against hand-computed values and the
models' `train_step` reads as the equations.

Actions of one episode: a = 0 chooses the first glimpse's location; action a >= 1, taken after glimpse a,
decides whether to stop and, if not, where glimpse a + 1 goes. An episode with N glimpses took the actions
0 .. min(N, N_max - 1).
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


def action_rewards(outcome_reward, confidence, glimpse_mask, glimpse_count, sparsity_weight, confidence_reward_weight):
    """The reward each action earns: the paper's terms spread over the actions, plus confidence shaping.

        r_a = m_{a+1} (lambda_sparse + lambda_c (Phi_{a+1} - Phi_a))      glimpse a + 1 taken (m = 1)
            + [a = last action] lambda_r R'                              the outcome, after the last action

    with Phi_n = log p(y | H'_n), the deterministic classifier's log-probability of the true class after n
    glimpses (Phi_0: before any). Undiscounted, the returns of these rewards sum to the paper's
    R = lambda_r R' + lambda_sparse N plus lambda_c (Phi_N - Phi_a): a potential-based shaping term
    (Ng, Harada, Russell 1999) that credits each glimpse with how much it raised the confidence in the
    right answer, so a glimpse into the emotional moment is rewarded at once instead of through one
    binary outcome shared by all glimpses of the episode.

    Args:
        outcome_reward: float [E], lambda_r R' (eq. 16-17) of each episode.
        confidence: float [E, N_max + 1], Phi_0 .. Phi_{N_max} (values after the episode ended are ignored).
        glimpse_mask: float [E, N_max], 1 where glimpse n + 1 was taken.
        glimpse_count: int [E], N.
        sparsity_weight: lambda_sparse (<= 0).
        confidence_reward_weight: lambda_c (>= 0; 0 = the paper's reward).

    Returns:
        float32 [E, N_max], r_a for a = 0 .. N_max - 1 (0 for actions not taken).
    """
    glimpse_mask = keras.ops.cast(glimpse_mask, "float32")
    max_glimpses = keras.ops.shape(glimpse_mask)[1]
    gain = confidence[:, 1:] - confidence[:, :-1]
    per_glimpse = glimpse_mask * (sparsity_weight + confidence_reward_weight * gain)
    last_action = keras.ops.minimum(keras.ops.cast(glimpse_count, "int32"), max_glimpses - 1)
    outcome = keras.ops.one_hot(last_action, max_glimpses) * keras.ops.cast(outcome_reward, "float32")[:, None]
    return per_glimpse + outcome


def discounted_returns(rewards, discount):
    """G_a = sum_{b >= a} discount^(b - a) r_b, the reward-to-go of each action.

    Args:
        rewards: float [E, A].
        discount: gamma in (0, 1].

    Returns:
        float32 [E, A].
    """
    import tensorflow as tf

    steps = tf.range(tf.shape(rewards)[1])
    offsets = tf.cast(steps[:, None] - steps[None, :], tf.float32)  # [b, a] = b - a
    weights = tf.where(offsets >= 0.0, tf.pow(tf.constant(float(discount)), tf.maximum(offsets, 0.0)), 0.0)
    return tf.matmul(tf.cast(rewards, tf.float32), weights)


def reinforce_loss(log_probs, baselines, returns, action_mask):
    """The policy-gradient surrogate loss with a learned baseline (eq. 15 with variance reduction).

        loss = - 1/E sum_e sum_a mask_ea * log pi(a_ea) * stop_gradient(G_ea - baseline_ea)

    Its gradient is minus the Monte-Carlo estimate of grad W(theta); it reaches only what log pi depends
    on (the policies), never the baseline.

    Args:
        log_probs: float tensor [E, A], log-probability of each action under the policy.
        baselines: float tensor [E, A], the baseline predicted in the state the action was taken in.
        returns: float tensor [E, A] (reward-to-go of each action) or [E] (one reward per episode).
        action_mask: float tensor [E, A], 1 for actions the episode really took.

    Returns:
        float32 scalar.
    """
    returns = returns if len(returns.shape) == 2 else returns[:, None]
    advantage = keras.ops.stop_gradient(returns - baselines)
    per_episode = keras.ops.sum(log_probs * advantage * action_mask, axis=-1)
    return -keras.ops.mean(per_episode)


def baseline_loss(baselines, returns, action_mask):
    """Mean squared error of the baseline against the return, over the actions taken.

    Args:
        baselines: float tensor [E, A].
        returns: float tensor [E, A] or [E].
        action_mask: float tensor [E, A].

    Returns:
        float32 scalar; only the baseline network receives its gradient (the return is a constant).
    """
    returns = returns if len(returns.shape) == 2 else returns[:, None]
    squared_error = keras.ops.square(keras.ops.stop_gradient(returns) - baselines) * action_mask
    return keras.ops.sum(squared_error) / keras.ops.maximum(keras.ops.sum(action_mask), 1.0)
