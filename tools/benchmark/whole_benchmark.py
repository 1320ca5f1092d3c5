#!/usr/bin/env python3
"""What a user feels: whole commands, timed from outside, against the strongest Python a user
could pick on this machine. Four measures, each alternated `--rounds` times in one run (the
machine is shared and noisy: compare within a round, report the best round):

1. quick start (experiments/quickstart.yaml, 3 epochs): the whole process against the sum of
   its epochs and its start-up, from the run's own record;
2. the reference recipe (experiments/resnet50_adam.yaml) for 1 epoch on 150 images, the whole
   `runner` process against python_recipe.py with PyTorch's defaults and with the runner's threads;
3. the same for 3 epochs on 300 images against python_recipe.py --tuned (bf16 autocast and
   channels-last) with the runner's threads;
4. a 4-trial grid (lr x batch size, ResNet-50 at 32x32, 1 epoch, 600 images) through
   `runner --sweep` (its default jobs, and --jobs 1) against the same grid through Optuna
   (optuna_grid.py, SQLite storage), as written and tuned.

    tools/benchmark/whole_benchmark.py --rounds 2 [--only recipe1,recipe3,sweep,quickstart]

Needs Debian's python3-torch, python3-torchvision and python3-optuna (scripts/benchmark-whole.sh
installs them) and the datasets scripts/benchmark-whole.sh makes.
"""
import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RUNNER = REPO / "build" / "bin" / "runner"
PYTHON = "/usr/bin/python3"
GRID_LR, GRID_BATCH = "1.0e-3,1.0e-4", "16,32"


def timed(command, cwd=REPO):
    """(wall seconds, stdout) of a command that must succeed; says what it ran as it goes."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    print(f"  {wall:7.2f} s  {Path(command[1]).name} {' '.join(map(str, command[2:]))[:150]}", flush=True)
    if done.returncode != 0:
        sys.exit(f"whole_benchmark: {' '.join(map(str, command))} failed ({done.returncode}):\n"
                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return wall, done.stdout


def runner_record(db):
    with sqlite3.connect(db) as c:
        startup, wall = c.execute("SELECT sum(startup_seconds), sum(wall_seconds) FROM runs").fetchone()
        epochs, checkpoints = c.execute("SELECT sum(epoch_seconds), sum(checkpoint_seconds) FROM epochs").fetchone()
        device = c.execute("SELECT device FROM runs LIMIT 1").fetchone()[0]
        each = [row[0] for row in c.execute("SELECT epoch_seconds FROM epochs ORDER BY run_id, epoch")]
    return {"startup": startup, "wall": wall, "epochs": epochs, "checkpoints": checkpoints, "device": device,
            "epoch_seconds": each}


def runner_threads(record):
    device = record["device"]
    return int(device.split("(")[1].split()[0]) if device.startswith("cpu (") else os.cpu_count()


def run_runner(scratch, experiment, sets):
    db = scratch / f"r{time.monotonic_ns()}.db"
    command = [str(RUNNER), str(experiment), "-q", "--set", f"output.db={db}",
               "--set", f"output.checkpoints={scratch / 'checkpoints'}", "--set", f"output.cache={scratch / 'cache'}"]
    for s in sets:
        command += ["--set", s]
    wall, _ = timed(command)
    return wall, runner_record(db)


def run_python_recipe(root, epochs, threads, tuned):
    command = [PYTHON, str(HERE / "python_recipe.py"), "--root", str(root), "--epochs", str(epochs),
               "--threads", str(threads)]
    if tuned:
        command.append("--tuned")
    wall, _ = timed(command)
    return wall


def measure_quickstart(scratch):
    wall, record = run_runner(scratch, REPO / "experiments/quickstart.yaml", ["train.epochs=3"])
    ratio = record["wall"] / (record["epochs"] + record["startup"])
    return {"whole": wall, **record, "whole_over_epochs_and_startup": ratio}


def measure_recipe(scratch, root, epochs, baselines):
    wall, record = run_runner(scratch, REPO / "experiments/resnet50_adam.yaml",
                              [f"dataset.root={root}", f"train.epochs={epochs}"])
    threads = runner_threads(record)
    result = {"trainyard": wall, "threads": threads, "startup": record["startup"], "epochs": record["epochs"],
              "epoch_seconds": record["epoch_seconds"]}
    for name, (python_threads, tuned) in baselines.items():
        result[name] = run_python_recipe(root, epochs, threads if python_threads == "same" else 0, tuned)
    return result


def measure_sweep(scratch, root, threads):
    # A database and a decoded cache of its own each round: a second round in the same database
    # would find every trial done, and Optuna decodes its images afresh each time too.
    def sweep(*extra):
        fresh = time.monotonic_ns()
        return [str(RUNNER), str(REPO / "experiments/resnet50_adam.yaml"), "-q",
                "--set", f"dataset.root={root}", "--set", "dataset.image_size=32", "--set", "train.epochs=1",
                "--set", f"output.db={scratch / f'sweep-{fresh}.db'}",
                "--set", f"output.checkpoints={scratch / 'checkpoints'}",
                "--set", f"output.cache={scratch / f'sweep-cache-{fresh}'}",
                "--sweep", f"optimizer.lr={GRID_LR}", "--sweep", f"train.batch_size={GRID_BATCH}", *extra]
    # The default (sweep.jobs 0: as many at once as cores and memory hold), and one at a time.
    result = {"trainyard": timed(sweep())[0], "trainyard_jobs1": timed(sweep("--jobs", "1"))[0]}
    for name, tuned in (("optuna", False), ("optuna_tuned", True)):
        storage = scratch / f"optuna-{name}-{time.monotonic_ns()}.db"
        command = [PYTHON, str(HERE / "optuna_grid.py"), "--root", str(root), "--storage", f"sqlite:///{storage}",
                   "--lr", GRID_LR, "--batch-size", GRID_BATCH, "--image-size", "32", "--epochs", "1",
                   "--threads", str(threads)]
        if tuned:
            command.append("--tuned")
        result[name] = timed(command)[0]
    return result


def report(name, rounds, keys, ours="trainyard"):
    """Each round's figures and, per baseline, the best round's ratio baseline / ours."""
    print(f"\n{name}")
    for i, r in enumerate(rounds, 1):
        print(f"  round {i}: " + ", ".join(f"{k} {r[k]:.2f} s" for k in [ours] + keys))
    for k in keys:
        ratios = [r[k] / r[ours] for r in rounds]
        print(f"  {k} / {ours}: " + " / ".join(f"{x:.2f}x" for x in ratios) + f" (best {max(ratios):.2f}x)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default="quickstart,recipe1,recipe3,sweep")
    parser.add_argument("--data", type=Path, default=REPO / "data", help="where benchmark-whole.sh made the datasets")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    results = {k: [] for k in wanted}
    with tempfile.TemporaryDirectory(prefix="trainyard-whole-") as tmp:
        scratch = Path(tmp)
        for round_number in range(1, args.rounds + 1):
            if "quickstart" in wanted:
                results["quickstart"].append(measure_quickstart(scratch))
            if "recipe1" in wanted:
                results["recipe1"].append(measure_recipe(scratch, args.data / "bench-150", 1, {
                    "python_defaults": (0, False), "python_same_threads": ("same", False)}))
            if "recipe3" in wanted:
                results["recipe3"].append(measure_recipe(scratch, args.data / "fashion-mnist-3-bench", 3, {
                    "python_tuned_same_threads": ("same", True)}))
            if "sweep" in wanted:
                threads = results["recipe1"][-1]["threads"] if results.get("recipe1") else os.cpu_count()
                results["sweep"].append(measure_sweep(scratch, args.data / "bench-600", threads))
            print(f"round {round_number}: " + json.dumps({k: v[-1] for k, v in results.items()}), flush=True)
    if "quickstart" in wanted:
        print("\nquick start, 3 epochs (the run's own record)")
        for i, r in enumerate(results["quickstart"], 1):
            print(f"  round {i}: whole {r['wall']:.2f} s (timed outside {r['whole']:.2f} s), start-up "
                  f"{r['startup']:.2f} s, epochs {r['epochs']:.2f} s, checkpoints {r['checkpoints']:.2f} s: "
                  f"whole / (epochs + start-up) = {r['whole_over_epochs_and_startup']:.3f}")
    if "recipe1" in wanted:
        report("reference recipe, 1 epoch, 150 images (whole process)", results["recipe1"],
               ["python_defaults", "python_same_threads"])
    if "recipe3" in wanted:
        report("reference recipe, 3 epochs, 300 images (whole process)", results["recipe3"],
               ["python_tuned_same_threads"])
        for i, r in enumerate(results["recipe3"], 1):
            first, *rest = r["epoch_seconds"]
            steady = sum(rest) / len(rest) if rest else first
            print(f"  round {i}: Trainyard's epochs " + " / ".join(f"{e:.1f}" for e in r["epoch_seconds"]) +
                  f" s; the first at {first / steady:.2f}x the steady one")
    if "sweep" in wanted:
        report("4-trial grid, ResNet-50 at 32x32, 1 epoch, 600 images (whole sweep)", results["sweep"],
               ["trainyard_jobs1", "optuna", "optuna_tuned"])


if __name__ == "__main__":
    main()
