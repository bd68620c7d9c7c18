"""The tf.distribute strategy for a `TrainingConfig.strategy` name, and the worker's role in it."""

import json
import os


def distribution_strategy(name):
    """A tf.distribute strategy.

    Args:
        name: "default" (the current default strategy: one device), "mirrored" (MirroredStrategy over
            every local GPU, or the CPU when there is none) or "multiworker" (MultiWorkerMirroredStrategy;
            the cluster and this worker's index come from the TF_CONFIG environment variable).

    Returns:
        A `tf.distribute.Strategy`.
    """
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "--strategy multiworker needs the TF_CONFIG environment variable "
                '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                '"task": {"type": "worker", "index": 0}})'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}: expected default, mirrored or multiworker")


def worker_role():
    """(task_type, task_index, is_chief) of this process from TF_CONFIG; a lone process is the chief.

    As in Keras' multi-worker guide: the chief is task "chief", or "worker" 0 when no chief is listed.
    Only the chief writes the run directory; the other workers write to a scratch folder.
    """
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    task_type, task_index = task.get("type"), int(task.get("index", 0))
    cluster = config.get("cluster", {})
    if task_type is None:
        return None, 0, True
    is_chief = task_type == "chief" or (task_type == "worker" and task_index == 0 and "chief" not in cluster)
    return task_type, task_index, is_chief
