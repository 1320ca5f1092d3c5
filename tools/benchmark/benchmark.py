#!/usr/bin/env python3
"""Trainyard's training-throughput benchmark.

Runs the reference recipe (experiments/resnet50_adam.yaml: ResNet-50, Adam, batch 10, 224x224)
through the runner on an ImageFolder for a number of epochs, then, where Debian's python3-torch
and python3-torchvision are installed, the same recipe in Python PyTorch (python_recipe.py) with
PyTorch's defaults and with the runner's thread count, and prints images/s, epoch seconds, the
share of training time spent waiting for data, peak memory, and the ratios.

    tools/benchmark/benchmark.py --root data/fashion-mnist-3-bench --epochs 2

When the runner trains on a GPU, the Python baselines are the recipe as written (fp32, no loader
workers) and the recipe tuned as PyTorch's performance guide says (python_recipe.py --tuned), and
the GPU's peak memory is read from nvidia-smi while each variant runs.

Only the standard library is needed; the Python baseline runs in a separate interpreter.
"""
import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


class GpuMonitor:
    """Samples nvidia-smi every 200 ms while a variant runs: the GPU's peak memory used (MiB,
    CUDA context included). (Its utilization figure is left out: averaged over a whole run it
    mixes start-up, decoding and testing with training and said little.)"""

    def __init__(self):
        self.available = shutil.which("nvidia-smi") is not None
        self.memory = []
        self._process = None
        self._reader = None

    def __enter__(self):
        if self.available:
            self._process = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits",
                 "-i", "0", "-lms", "200"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
        return self

    def _read(self):
        for line in self._process.stdout:
            try:
                self.memory.append(float(line))
            except ValueError:
                continue

    def __exit__(self, *exc):
        if self._process:
            self._process.terminate()
            self._process.wait()
            self._reader.join(timeout=2)

    def summary(self):
        if not self.memory:
            return {}
        return {"gpu_peak_mib": max(self.memory)}


def run_measured(command, cwd=None):
    """Runs a command, returning (exit code, stdout, stderr, peak resident memory in MiB, GPU
    figures from nvidia-smi where there is a GPU)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, GpuMonitor() as gpu:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    return process.returncode, stdout, stderr, usage.ru_maxrss / 1024.0, gpu.summary()


def steady(values):
    """Epochs after the first when there are several: the first pays for warm-up and decoding."""
    return statistics.mean(values[1:] if len(values) > 1 else values)


def run_trainyard(args, workdir):
    db = workdir / "bench.db"
    command = [str(args.runner), str(args.experiment),
               "--set", f"dataset.root={args.root}",
               "--set", f"dataset.image_size={args.image_size}",
               "--set", f"train.batch_size={args.batch_size}",
               "--set", f"train.epochs={args.epochs}",
               "--set", f"output.db={db}",
               "--set", f"output.checkpoints={workdir / 'checkpoints'}",
               "--set", f"output.cache={workdir / 'cache'}",
               "--set", f"device={args.device}"]
    for extra in args.set:
        command += ["--set", extra]
    code, _, err, peak, gpu = run_measured(command)
    if code != 0:
        sys.exit(f"benchmark: the runner failed ({code}):\n{err}")
    with sqlite3.connect(db) as connection:
        device, precision = connection.execute("SELECT device, precision FROM runs").fetchone()
        rows = connection.execute(
            "SELECT train_images_per_second, test_images_per_second, epoch_seconds, "
            "data_wait_fraction, test_accuracy FROM epochs ORDER BY epoch").fetchall()
    threads = int(device.split("(")[1].split()[0]) if device.startswith("cpu (") else 0
    return {"name": f"trainyard ({device}, precision {precision})", "threads": threads,
            "device": device.split()[0],
            "train": [r[0] for r in rows], "test": [r[1] for r in rows],
            "seconds": [r[2] for r in rows], "wait": [r[3] for r in rows],
            "accuracy": rows[-1][4], "peak_mib": peak, **gpu}


def find_python_with_torch(preferred):
    for candidate in [preferred, "/usr/bin/python3", "python3"]:
        if not candidate or not shutil.which(candidate):
            continue
        probe = subprocess.run([candidate, "-c", "import torch, torchvision"], capture_output=True)
        if probe.returncode == 0:
            return candidate
    return None


def run_python(args, python, threads=0, device="cpu", workers=0):
    """The Python recipe: on a CPU with `threads` (0: PyTorch's default), on a GPU as written
    (workers 0) or tuned (workers > 0)."""
    command = [python, str(HERE / "python_recipe.py"), "--root", str(args.root),
               "--epochs", str(args.epochs), "--image-size", str(args.image_size),
               "--batch-size", str(args.batch_size), "--threads", str(threads), "--device", device]
    if workers:
        command += ["--tuned", "--workers", str(workers)]
    code, out, err, peak, gpu = run_measured(command)
    if code != 0:
        sys.exit(f"benchmark: the Python recipe failed ({code}):\n{err}")
    epochs = [json.loads(line) for line in out.splitlines() if line.startswith("{\"epoch\"")]
    if device != "cpu":
        label = f"tuned, {workers} loader workers" if workers else "as written"
        name = f"python recipe ({device}, {label})"
    else:
        label = "PyTorch defaults" if threads == 0 else f"{threads} threads"
        name = f"python recipe ({label}, {epochs[0]['threads']} thread(s))"
    return {"name": name, "threads": epochs[0]["threads"], **gpu,
            "train": [e["train"]["images_per_second"] for e in epochs],
            "test": [e["test"]["images_per_second"] for e in epochs],
            "seconds": [e["epoch_seconds"] for e in epochs],
            "wait": [e["train"]["data_wait_fraction"] for e in epochs],
            "accuracy": epochs[-1]["test"]["accuracy"], "peak_mib": peak}


def done(result):
    """One line per finished variant, so a run cut short still reports what it measured."""
    gpu = f", GPU peak {result['gpu_peak_mib']:.0f} MiB" if "gpu_peak_mib" in result else ""
    print(f"  done: {result['name']}: train img/s per epoch " + ", ".join(f"{v:.1f}" for v in result["train"]) +
          f"; data wait {100 * steady(result['wait']):.2f}%{gpu}", flush=True)


def print_table(results, epochs):
    basis = "epochs 2.." if epochs > 1 else "epoch 1"
    gpu = any("gpu_peak_mib" in r for r in results)
    gpu_header = f" {'GPU MiB':>8}" if gpu else ""
    print(f"\n{'variant':<58} {'train img/s':>11} {'test img/s':>10} {'epoch s':>8} "
          f"{'data wait':>9} {'peak MiB':>9}{gpu_header} {'test acc':>8}")
    for r in results:
        gpu_cells = f" {r.get('gpu_peak_mib', 0):>8.0f}" if gpu else ""
        print(f"{r['name']:<58} {steady(r['train']):>11.2f} {steady(r['test']):>10.2f} "
              f"{steady(r['seconds']):>8.1f} {100 * steady(r['wait']):>8.2f}% "
              f"{r['peak_mib']:>9.0f}{gpu_cells} {100 * r['accuracy']:>7.1f}%")
    print(f"(images/s, seconds and data wait: mean over {basis}; per epoch train img/s below)")
    for r in results:
        print(f"  {r['name']}: " + ", ".join(f"{v:.2f}" for v in r["train"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, type=Path, help="ImageFolder to train on")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (the runner's device key)")
    parser.add_argument("--workers", type=int, default=8,
                        help="loader worker processes of the tuned Python recipe on a GPU")
    parser.add_argument("--runner", type=Path, default=REPO / "build" / "bin" / "runner")
    parser.add_argument("--experiment", type=Path, default=REPO / "experiments" / "resnet50_adam.yaml")
    parser.add_argument("--set", action="append", default=[], help="extra runner override (repeatable)")
    parser.add_argument("--python", default=None, help="interpreter with torch and torchvision")
    parser.add_argument("--skip-python", action="store_true", help="measure Trainyard only")
    args = parser.parse_args()
    args.root = args.root.resolve()

    with tempfile.TemporaryDirectory(prefix="trainyard-bench-") as tmp:
        print(f"benchmark: {args.root}, {args.epochs} epoch(s), {args.image_size}x{args.image_size}, "
              f"batch {args.batch_size}", flush=True)
        results = [run_trainyard(args, Path(tmp))]
        done(results[0])
        python = None if args.skip_python else find_python_with_torch(args.python)
        if python is None and not args.skip_python:
            print("benchmark: no Python with torch and torchvision (apt-get install python3-torch "
                  "python3-torchvision); the baseline is skipped")
        on_gpu = results[0]["device"].startswith("cuda")
        if python and on_gpu:
            for workers in (0, args.workers):
                results.append(run_python(args, python, device=results[0]["device"], workers=workers))
                done(results[-1])
        elif python:
            for threads in (0, results[0]["threads"] or os.cpu_count()):
                results.append(run_python(args, python, threads))
                done(results[-1])
    print_table(results, args.epochs)
    if len(results) == 3:
        ours = steady(results[0]["train"])
        first, second = ((f"as written", f"tuned ({args.workers} loader workers)") if on_gpu else
                         ("with PyTorch's defaults", f"with the same {results[2]['threads']} threads"))
        print(f"\ntrain images/s ratio, Trainyard / Python {first}: {ours / steady(results[1]['train']):.2f}x")
        print(f"train images/s ratio, Trainyard / Python {second}: {ours / steady(results[2]['train']):.2f}x")


if __name__ == "__main__":
    main()
