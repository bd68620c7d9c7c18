"""The one conformance check every custom layer goes through (keras-hub's `run_layer_test`, condensed).

`run_layer_test` checks: the config round trip, the weight counts, the output shapes, a `.keras`
save/reload (inside a functional model) with equal outputs, and one fit step that changes the weights
and gives a finite loss. A test that runs it declares the layer it covers with `@conformance_case(Layer)`;
`CONFORMANCE_CASES` then lists every covered layer, so a registry test can fail when a layer registered
under the "emorecog" package has no case.
"""

import os

import keras
import numpy as np

CONFORMANCE_CASES = {}


def conformance_case(layer_class):
    """Mark a test function as the conformance case of `layer_class` (recorded in CONFORMANCE_CASES)."""

    def mark(test_function):
        CONFORMANCE_CASES.setdefault(layer_class, []).append(test_function.__name__)
        return test_function

    return mark


def _as_tuple(value):
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def run_layer_test(
    layer_class,
    init_kwargs,
    input_data,
    expected_output_shapes,
    expected_num_trainable_weights,
    expected_num_non_trainable_weights=0,
    tmp_path=None,
    fit=True,
):
    """Run the conformance checks on one layer.

    Args:
        layer_class: the layer's class.
        init_kwargs: constructor kwargs.
        input_data: list of NumPy arrays, the layer's positional call arguments (batch first).
        expected_output_shapes: one shape tuple, or a list of them for a layer with several outputs.
        expected_num_trainable_weights: number of trainable weight tensors once built.
        expected_num_non_trainable_weights: number of non-trainable weight tensors.
        tmp_path: a directory for the `.keras` file (pytest's tmp_path).
        fit: run one fit step (layers without trainable weights skip the "weights changed" check).

    Returns:
        The reloaded functional model (for further checks by the caller).
    """
    layer = layer_class(**init_kwargs)
    config = layer.get_config()
    rebuilt = layer_class.from_config(config)
    assert rebuilt.get_config() == config, "get_config/from_config do not round-trip"
    import json

    json.dumps(config)  # the config must be JSON-ready to live in a .keras file

    names = [f"input_{index}" for index in range(len(input_data))]
    inputs = [
        keras.Input(shape=array.shape[1:], dtype=str(array.dtype), name=name) for name, array in zip(names, input_data)
    ]
    outputs = list(_as_tuple(layer(*inputs)))
    # Single tensors rather than one-element lists: Keras warns when the structures differ.
    model = keras.Model(
        inputs[0] if len(inputs) == 1 else dict(zip(names, inputs)), outputs[0] if len(outputs) == 1 else outputs
    )
    data = input_data[0] if len(input_data) == 1 else dict(zip(names, input_data))

    assert len(layer.trainable_weights) == expected_num_trainable_weights, (
        f"{layer_class.__name__}: {len(layer.trainable_weights)} trainable weights, "
        f"expected {expected_num_trainable_weights}: {[weight.path for weight in layer.trainable_weights]}"
    )
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights

    results = _as_tuple(model.predict(data, verbose=0))
    expected_shapes = expected_output_shapes if isinstance(expected_output_shapes, list) else [expected_output_shapes]
    assert [tuple(result.shape) for result in results] == [tuple(shape) for shape in expected_shapes]
    for result in results:
        assert np.all(np.isfinite(result)), f"{layer_class.__name__} produced non-finite values"

    path = os.path.join(str(tmp_path), f"{layer_class.__name__}.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    reloaded_layer = [candidate for candidate in reloaded.layers if isinstance(candidate, layer_class)][0]
    assert reloaded_layer.get_config() == layer.get_config()
    for result, reloaded_result in zip(results, _as_tuple(reloaded.predict(data, verbose=0))):
        np.testing.assert_allclose(result, reloaded_result, rtol=1e-6, atol=1e-6)

    if fit:
        before = [np.array(weight) for weight in layer.trainable_weights]
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        rng = np.random.default_rng(0)
        targets = [rng.normal(size=result.shape).astype("float32") for result in results]
        history = model.fit(
            data, targets[0] if len(targets) == 1 else targets, batch_size=len(input_data[0]), epochs=1, verbose=0
        )
        assert np.isfinite(history.history["loss"][0])
        if before:
            after = [np.array(weight) for weight in layer.trainable_weights]
            assert any(not np.allclose(old, new) for old, new in zip(before, after)), "one fit step changed nothing"
    return reloaded
