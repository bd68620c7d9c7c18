"""TF Serving REST request bodies (`POST /v1/models/<name>:predict`) for the exported signatures.

Two forms (TF Serving's REST API):
    row       {"signature_name": ..., "instances": [{"eeg": [...], "face": [...], "face_present": [...]}, ...]}
    columnar  {"signature_name": ..., "inputs": {"eeg": [[...]], "face": [[...]], "face_present": [[...]]}}
For `serve_examples` the serialized records travel base64-encoded as {"b64": "..."}; that body is much
smaller than the dense one, because the face crops stay JPEG. `serve_compact` is the smallest that a client
can build from its own data: per-electrode band energies as numbers and the JPEG crops as {"b64": ...}
(an empty string for a frame without a face). Bodies are written without spaces (`write_request_body`).
"""

import base64
import json
import os
import uuid

import numpy as np

from emorecog.output_folders import OutputFolderError, check_separate_from_inputs
from emorecog.serving import signatures

REQUEST_FORMATS = ("instances", "inputs")
# Every body written here starts so (its first key), which is how an earlier one is recognised.
_BODY_START = b'{"signature_name":'


def write_request_body(path, body, inputs=None):
    """Write a REST body to `path` as compact JSON (no spaces: a 60 s trial's numbers are ~10 % of the text),
    atomically (temporary sibling, then rename: a reader never sees half a body).

    An existing file is replaced only if it is a request body written here; the file never lies inside an
    input (e.g. the model or DEAP folder).

    Args:
        path: the JSON file.
        body: a dict from `dense_request_body`, `compact_request_body` or `examples_request_body`.
        inputs: {name: path} of what the body was made from.

    Raises:
        OutputFolderError: `path` overlaps an input, or is something else than an earlier request body.
    """
    check_separate_from_inputs(path, inputs or {})
    if os.path.lexists(path):
        start = b""
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                start = handle.read(len(_BODY_START))
        if start != _BODY_START:
            raise OutputFolderError(f"{path} exists and is not a REST request body emorecog wrote; choose another file "
                                    "(emorecog replaces only what it wrote)")
    temporary = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}")
    try:
        with open(temporary, "w") as handle:
            json.dump(body, handle, separators=(",", ":"))
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def dense_request_body(inputs, request_format="instances"):
    """A REST body for `serving_default`.

    Args:
        inputs: dict of arrays with a leading batch dimension, keyed by the schema's input names.
        request_format: "instances" (row) or "inputs" (columnar).

    Returns:
        A JSON-ready dict.
    """
    _check_format(request_format)
    missing = [key for key in signatures.DENSE_INPUT_KEYS if key not in inputs]
    if missing:
        raise ValueError(f"inputs lack {missing}; the serving_default signature takes {signatures.DENSE_INPUT_KEYS}")
    columns = {key: _json_values(np.asarray(inputs[key])) for key in signatures.DENSE_INPUT_KEYS}
    body = {"signature_name": signatures.SERVING_DEFAULT}
    if request_format == "inputs":
        body["inputs"] = columns
    else:
        batch = len(columns[signatures.DENSE_INPUT_KEYS[0]])
        body["instances"] = [{key: columns[key][row] for key in columns} for row in range(batch)]
    return body


def compact_request_body(inputs, request_format="instances"):
    """A REST body for `serve_compact`.

    Args:
        inputs: dict with a leading batch dimension: `eeg_band_energy` float [B, T, C, 3], `face_jpeg`
            [B, T] of JPEG bytes (b"" = black frame), `face_present` [B, T].
        request_format: "instances" (row) or "inputs" (columnar).
    """
    _check_format(request_format)
    missing = [key for key in signatures.COMPACT_INPUT_KEYS if key not in inputs]
    if missing:
        raise ValueError(f"inputs lack {missing}; the {signatures.SERVE_COMPACT} signature takes "
                         f"{signatures.COMPACT_INPUT_KEYS}")
    energy_key, jpeg_key, present_key = signatures.COMPACT_INPUT_KEYS
    columns = {
        energy_key: _json_values(np.asarray(inputs[energy_key], dtype=np.float32)),
        jpeg_key: [[{"b64": base64.b64encode(bytes(jpeg)).decode("ascii")} for jpeg in row]
                   for row in inputs[jpeg_key]],
        present_key: _json_values(np.asarray(inputs[present_key], dtype=np.float32)),
    }
    body = {"signature_name": signatures.SERVE_COMPACT}
    if request_format == "inputs":
        body["inputs"] = columns
    else:
        body["instances"] = [{key: columns[key][row] for key in columns} for row in range(len(columns[energy_key]))]
    return body


def examples_request_body(serialized_examples, request_format="instances"):
    """A REST body for `serve_examples`: serialized tf.train.Example bytes as {"b64": ...} values."""
    _check_format(request_format)
    encoded = [{"b64": base64.b64encode(record).decode("ascii")} for record in serialized_examples]
    body = {"signature_name": signatures.SERVE_EXAMPLES}
    if request_format == "inputs":
        body["inputs"] = {signatures.EXAMPLES_INPUT_KEY: encoded}
    else:
        body["instances"] = [{signatures.EXAMPLES_INPUT_KEY: value} for value in encoded]
    return body


def _json_values(array):
    if np.issubdtype(array.dtype, np.floating):
        # The shortest decimal that reads back as the same float32: a third of the text of float64 reprs.
        return array.astype(np.float32).astype(str).astype(np.float64).tolist()
    return array.tolist()


def _check_format(request_format):
    if request_format not in REQUEST_FORMATS:
        raise ValueError(f"unknown REST request format {request_format!r}: expected one of {REQUEST_FORMATS}")
