"""Run an exported SavedModel with TensorFlow alone: this file never imports emorecog.

It is what "another TensorFlow app" does, and `emorecog demo` and the serving tests run it in a sanitised
interpreter (`isolated_python_command`): `python -I -S` (no site, no user paths, no current directory)
with only the third-party site-packages folder appended to sys.path WITHOUT processing its .pth files, so
emorecog's editable-install hook is not loaded. The script checks that `import emorecog` fails.

    python -I -S standalone_predict.py --site-packages DIR --model saved_models/NAME \
        (--tfrecord FILE.gz --index I | --inputs-npz FILE | --request-json BODY.json) [--out-npz FILE]

`--request-json` takes a TF Serving REST body (`emorecog predict --request-json`) and decodes it the way
the REST API defines it (row "instances" or columnar "inputs", {"b64": ...} as bytes) into the named
signature's tensors: what TF Serving would run, without a server. It prints one JSON line: the outputs of
the first sample plus where the model came from.
"""

import argparse
import importlib.util
import json
import os
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--site-packages", action="append", default=[], help="folders appended to sys.path")
    parser.add_argument("--model", required=True, help="saved_models/<name> (latest version) or a version folder")
    parser.add_argument("--tfrecord", help="a GZIP TFRecord file written by emorecog ingest")
    parser.add_argument("--index", type=int, default=0, help="record index in --tfrecord")
    parser.add_argument("--inputs-npz", help="an .npz with eeg, face, face_present (batch first)")
    parser.add_argument("--request-json", help="a TF Serving REST request body")
    parser.add_argument("--out-npz", help="also write every output array here")
    args = parser.parse_args(argv)

    sys.path.extend(args.site_packages)
    emorecog_spec = importlib.util.find_spec("emorecog")
    if emorecog_spec is not None:
        # emorecog installed as a regular package in site-packages: block it, the model must not need it.
        sys.modules["emorecog"] = None
    try:
        import emorecog  # noqa: F401

        raise SystemExit("emorecog is importable in this interpreter; the check would prove nothing")
    except ImportError:
        pass

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    export_dir = _latest_version(args.model)
    loaded = tf.saved_model.load(export_dir)
    if args.tfrecord:
        records = tf.data.TFRecordDataset(args.tfrecord, compression_type="GZIP")
        record = next(iter(records.skip(args.index).take(1)), None)
        if record is None:
            raise SystemExit(f"{args.tfrecord} has no record at index {args.index}")
        outputs = loaded.signatures["serve_examples"](examples=tf.reshape(record, [1]))
        signature = "serve_examples"
    elif args.inputs_npz:
        arrays = np.load(args.inputs_npz)
        signature_fn = loaded.signatures["serving_default"]
        specs = signature_fn.structured_input_signature[1]
        outputs = signature_fn(**{key: tf.constant(arrays[key], dtype=spec.dtype) for key, spec in specs.items()})
        signature = "serving_default"
    elif args.request_json:
        with open(args.request_json) as handle:
            body = json.load(handle)
        signature = body.get("signature_name", "serving_default")
        signature_fn = loaded.signatures[signature]
        specs = signature_fn.structured_input_signature[1]
        columns = _rest_columns(body, list(specs))
        outputs = signature_fn(
            **{key: tf.constant(_rest_array(columns[key], spec.dtype), dtype=spec.dtype) for key, spec in specs.items()}
        )
    else:
        raise SystemExit("give --tfrecord FILE, --inputs-npz FILE or --request-json FILE")
    outputs = {key: value.numpy() for key, value in outputs.items()}
    if args.out_npz:
        np.savez(args.out_npz, **outputs)
    count = int(outputs["glimpse_count"][0])
    print(
        json.dumps(
            {
                "export_dir": export_dir,
                "signature": signature,
                "emorecog_importable": False,
                "emorecog_blocked_from_site_packages": emorecog_spec is not None,
                "tensorflow_version": tf.__version__,
                "probabilities": outputs["probabilities"][0].tolist(),
                "class_id": int(outputs["class_id"][0]),
                "glimpse_count": count,
                "glimpse_frames": outputs["glimpse_frames"][0][:count].tolist(),
            }
        )
    )


def _rest_columns(body, input_names):
    """{input name: nested list with the batch first} of a REST body, as TF Serving's REST API reads it."""
    if "inputs" in body:
        columns = body["inputs"]
        return columns if isinstance(columns, dict) else {input_names[0]: columns}
    rows = body["instances"]
    if len(input_names) == 1 and not (rows and isinstance(rows[0], dict) and input_names[0] in rows[0]):
        return {input_names[0]: rows}  # one-input signatures may list bare values
    return {name: [row[name] for row in rows] for name in input_names}


def _rest_array(values, dtype):
    """A nested JSON list -> an array; {"b64": ...} objects become bytes (TF Serving's binary encoding)."""
    import base64

    import numpy as np

    def decode(value):
        if isinstance(value, dict) and set(value) == {"b64"}:
            return base64.b64decode(value["b64"])
        if isinstance(value, list):
            return [decode(item) for item in value]
        return value

    decoded = decode(values)
    if dtype.name == "string":
        return np.asarray(decoded, dtype=object)
    return np.asarray(decoded, dtype=dtype.as_numpy_dtype)


def _latest_version(path):
    """The version TF Serving would serve, by the rule of emorecog/serving/saved_model.py, loaded from its file
    (not through the emorecog package, which must stay unimportable here)."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(
        "tf_serving_saved_model", os.path.join(package_dir, "serving", "saved_model.py")
    )
    saved_model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(saved_model)
    try:
        return saved_model.resolve_saved_model_dir(path)
    except (OSError, ValueError) as error:
        raise SystemExit(str(error)) from None


if __name__ == "__main__":
    main()
