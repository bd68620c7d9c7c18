"""Multi-worker training: MultiWorkerMirroredStrategy with two worker processes on localhost CPU (slow)."""

import json
import os
import socket
import subprocess
import sys

import pytest


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for handle in sockets:
            handle.bind(("localhost", 0))
        return [handle.getsockname()[1] for handle in sockets]
    finally:
        for handle in sockets:
            handle.close()


@pytest.mark.slow
def test_two_workers_train_together_and_only_the_chief_writes_the_run(tmp_path, tiny_run):
    from tests.tiny_pipeline import TINY_MODEL, TINY_TRAINING_FLAGS

    _, examples_dir, _ = tiny_run
    config = tmp_path / "model.json"
    config.write_text(json.dumps(TINY_MODEL))
    run_dir = str(tmp_path / "run")
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        environment = {
            **os.environ,
            "TF_CONFIG": json.dumps(tf_config),
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "CUDA_VISIBLE_DEVICES": "",
        }
        command = [
            sys.executable,
            "-m",
            "emorecog.cli",
            "train",
            "--data",
            examples_dir,
            "--out",
            run_dir,
            "--epochs",
            "2",
            "--config",
            str(config),
            *TINY_TRAINING_FLAGS,
            "--strategy",
            "multiworker",
        ]
        processes.append(
            subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    outputs = []
    for process in processes:
        output, _ = process.communicate(timeout=1800)
        outputs.append(output)
        assert process.returncode == 0, output[-4000:]
    chief, worker = outputs
    assert "(2 replica(s))" in chief and "(2 replica(s))" in worker
    assert "epoch 2/2" in chief and "epoch 2/2" in worker
    assert "only the chief writes" in worker
    with open(os.path.join(run_dir, "model", "history.json")) as handle:
        history = json.load(handle)
    assert [entry["epoch"] for entry in history] == [1, 2]
    assert os.path.isfile(os.path.join(run_dir, "model", "model.keras"))
    assert not [name for name in os.listdir(run_dir) if name.startswith(".worker-")]
    with open(os.path.join(run_dir, "model", "training_config.json")) as handle:
        assert json.load(handle)["strategy"] == "multiworker"
