#!/usr/bin/env python3
"""Trainyard's training-throughput benchmark.

Runs the reference recipe (experiments/resnet50_adam.yaml: ResNet-50, Adam, batch 10, 224x224)
through the runner on an ImageFolder for a number of epochs, then, where Debian's python3-torch
and python3-torchvision are installed, the same recipe in Python PyTorch (python_recipe.py) with
PyTorch's defaults and with the runner's thread count, and prints images/s, epoch seconds, the
share of training time spent waiting for data, peak memory, and the ratios.

    tools/benchmark/benchmark.py --root data/fashion-mnist-3-bench --epochs 2

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
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def run_measured(command, cwd=None):
    """Runs a command, returning (exit code, stdout, stderr, peak resident memory in MiB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (process.returncode, out.read().decode(errors="replace"),
                err.read().decode(errors="replace"), usage.ru_maxrss / 1024.0)


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
               "--set", f"output.checkpoints={workdir / 'checkpoints'}"]
    for extra in args.set:
        command += ["--set", extra]
    code, _, err, peak = run_measured(command)
    if code != 0:
        sys.exit(f"benchmark: the runner failed ({code}):\n{err}")
    with sqlite3.connect(db) as connection:
        device, precision = connection.execute("SELECT device, precision FROM runs").fetchone()
        rows = connection.execute(
            "SELECT train_images_per_second, test_images_per_second, epoch_seconds, "
            "data_wait_fraction, test_accuracy FROM epochs ORDER BY epoch").fetchall()
    threads = int(device.split("(")[1].split()[0]) if device.startswith("cpu (") else 0
    return {"name": f"trainyard ({device}, precision {precision})", "threads": threads,
            "train": [r[0] for r in rows], "test": [r[1] for r in rows],
            "seconds": [r[2] for r in rows], "wait": [r[3] for r in rows],
            "accuracy": rows[-1][4], "peak_mib": peak}


def find_python_with_torch(preferred):
    for candidate in [preferred, "/usr/bin/python3", "python3"]:
        if not candidate or not shutil.which(candidate):
            continue
        probe = subprocess.run([candidate, "-c", "import torch, torchvision"], capture_output=True)
        if probe.returncode == 0:
            return candidate
    return None


def run_python(args, python, threads):
    command = [python, str(HERE / "python_recipe.py"), "--root", str(args.root),
               "--epochs", str(args.epochs), "--image-size", str(args.image_size),
               "--batch-size", str(args.batch_size), "--threads", str(threads)]
    code, out, err, peak = run_measured(command)
    if code != 0:
        sys.exit(f"benchmark: the Python recipe failed ({code}):\n{err}")
    epochs = [json.loads(line) for line in out.splitlines() if line.startswith("{\"epoch\"")]
    label = "PyTorch defaults" if threads == 0 else f"{threads} threads"
    return {"name": f"python recipe ({label}, {epochs[0]['threads']} thread(s))",
            "threads": epochs[0]["threads"],
            "train": [e["train"]["images_per_second"] for e in epochs],
            "test": [e["test"]["images_per_second"] for e in epochs],
            "seconds": [e["epoch_seconds"] for e in epochs],
            "wait": [e["train"]["data_wait_fraction"] for e in epochs],
            "accuracy": epochs[-1]["test"]["accuracy"], "peak_mib": peak}


def print_table(results, epochs):
    basis = "epochs 2.." if epochs > 1 else "epoch 1"
    print(f"\n{'variant':<58} {'train img/s':>11} {'test img/s':>10} {'epoch s':>8} "
          f"{'data wait':>9} {'peak MiB':>9} {'test acc':>8}")
    for r in results:
        print(f"{r['name']:<58} {steady(r['train']):>11.2f} {steady(r['test']):>10.2f} "
              f"{steady(r['seconds']):>8.1f} {100 * steady(r['wait']):>8.2f}% "
              f"{r['peak_mib']:>9.0f} {100 * r['accuracy']:>7.1f}%")
    print(f"(images/s, seconds and data wait: mean over {basis}; per epoch train img/s below)")
    for r in results:
        print(f"  {r['name']}: " + ", ".join(f"{v:.2f}" for v in r["train"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, type=Path, help="ImageFolder to train on")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=10)
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
        print(f"  done: {results[0]['name']}", flush=True)
        python = None if args.skip_python else find_python_with_torch(args.python)
        if python is None and not args.skip_python:
            print("benchmark: no Python with torch and torchvision (apt-get install python3-torch "
                  "python3-torchvision); the baseline is skipped")
        if python:
            for threads in (0, results[0]["threads"] or os.cpu_count()):
                results.append(run_python(args, python, threads))
                print(f"  done: {results[-1]['name']}", flush=True)
    print_table(results, args.epochs)
    if len(results) == 3:
        ours = steady(results[0]["train"])
        print(f"\ntrain images/s ratio, Trainyard / Python with PyTorch's defaults: "
              f"{ours / steady(results[1]['train']):.2f}x")
        print(f"train images/s ratio, Trainyard / Python with the same {results[2]['threads']} threads: "
              f"{ours / steady(results[2]['train']):.2f}x")


if __name__ == "__main__":
    main()
