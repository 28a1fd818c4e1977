"""Data-parallel training over two worker processes on this machine, as on a cluster: TF_CONFIG names the
workers, ``--distribute multiworker`` runs ``tf.distribute.MultiWorkerMirroredStrategy``, only the chief writes,
and its checkpoint resumes in an ordinary single-process run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SETTINGS = ["--model", "pixelsnail", "--data", "digits", "--image-size", "8", "--batch-size", "8",
            "--filters", "8", "--depth", "1", "--hparam", "resnets_per_block=1", "--hparam", "num_mixtures=2",
            "--hparam", "dropout=0.0", "--checkpoint-every", "3", "--log-every", "3", "--learning-rate", "0.005"]


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_train_together_and_the_chiefs_checkpoint_resumes(tmp_path):
    out = tmp_path / "run"
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PIXELCNN_PROGRESS": "0",
               "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})}
        command = [sys.executable, "-m", "pixelcnn_lib", "--threads", "1", "train", *SETTINGS, "--steps", "6",
                   "--distribute", "multiworker", "--output", str(out)]
        processes.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
    results = []
    for process in processes:
        try:
            stdout, stderr = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
        results.append((process.returncode, stdout, stderr))
    for index, (code, stdout, stderr) in enumerate(results):
        assert code == 0, f"worker {index} failed:\n{stdout[-2000:]}\n{stderr[-4000:]}"
        assert "tf.distribute: CollectiveAllReduceStrategy over 2 replicas" in stdout, stdout  # the MWMS class
        assert "finished at step 6; " + ("checkpoint in" if index == 0 else "the chief wrote") in stdout, stdout
    print("\n".join(f"worker {index}: {stdout}" for index, (_, stdout, _) in enumerate(results)))
    # only the chief (worker 0) wrote: one checkpoint, one log, at the last step
    with np.load(out / "checkpoint.npz") as arrays:
        assert int(arrays["step"]) == 6
    log = (out / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,") and [row.split(",")[0] for row in log[1:]] == ["3", "6"]
    # the chief's checkpoint resumes without a cluster
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PIXELCNN_PROGRESS": "0"}
    env.pop("TF_CONFIG", None)
    resumed = subprocess.run([sys.executable, "-m", "pixelcnn_lib", "train", *SETTINGS, "--steps", "9", "--resume",
                              "--output", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "resumed from step 6" in resumed.stdout
    with np.load(out / "checkpoint.npz") as arrays:
        assert int(arrays["step"]) == 9
