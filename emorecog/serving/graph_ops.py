"""Which TensorFlow op types a SavedModel's graph uses, and which of them must not be served."""

import os

from emorecog.serving import signatures


def saved_model_op_types(export_dir):
    """Every op type in a SavedModel: its graph nodes and every function of its function library.

    Args:
        export_dir: a SavedModel directory (holding saved_model.pb).

    Returns:
        A sorted list of op type names, e.g. ["Add", "ConcatV2", ...].
    """
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(export_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as handle:
        saved_model.ParseFromString(handle.read())
    op_types = set()
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        op_types.update(node.op for node in graph.node)
        for function in graph.library.function:
            op_types.update(node.op for node in function.node_def)
        # Calls to library functions appear as op types named after the function: not ops.
        op_types.difference_update(function.signature.name for function in graph.library.function)
    return sorted(op_types)


def forbidden_op_types(op_types):
    """The op types among `op_types` that a served graph must not hold (random, cuDNN, tensorflow-io)."""
    return sorted(op for op in op_types if op.startswith(signatures.FORBIDDEN_OP_PREFIXES))


def unregistered_op_types(op_types):
    """The op types that core TensorFlow does not register (custom kernels TF Serving lacks)."""
    from tensorflow.python.framework import op_def_registry

    return sorted(op for op in op_types if op_def_registry.get(op) is None)
