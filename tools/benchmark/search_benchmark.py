#!/usr/bin/env python3
"""What a sweep's sampler and pruner buy: the same search, on the quick-start data and the same
epoch budget, run by Trainyard and by Optuna, for several seeds, side by side.

The search space (documented in the README's sweep section):
    optimizer.lr      loguniform [1e-5, 1e-1]      (Adam)
    train.batch_size  choice [16, 32, 64]
    model.width       choice [8, 16, 32]           (small_cnn; ignored by resnet50)
    model.dropout     uniform [0.0, 0.5]           (small_cnn; ignored by resnet50)
each trial up to --epochs epochs at --image-size, selected on the 20% held out.

Sweeps, each run as a user runs it and timed from outside (whole process):
    trainyard random, random+asha, tpe, tpe+median, tpe+asha   (runner EXPERIMENT.yaml)
    optuna    random, tpe, tpe+median, tpe+sh                   (optuna_search.py, SQLite)
every one with its own defaults (Trainyard: TPE startup_trials 10, median warmup_epochs 1 and
min_trials 3, asha min_epochs 1 and reduction 4; Optuna 3.1: TPESampler n_startup_trials 10,
MedianPruner n_startup_trials 5, SuccessiveHalvingPruner reduction_factor 4). Prints, per seed
and sweep: epochs trained, pruned trials, the best held-out accuracy of a trial that ran to its
end, and the wall time; then the means over the seeds.

    scripts/benchmark-search.sh --seeds 1 2 3 [--trials 24] [--only trainyard:random,optuna:tpe]
    scripts/benchmark-search.sh --model resnet50 --trials 12 --only trainyard:random,trainyard:random+asha
    scripts/benchmark-search.sh --only trainyard:random --seeds 1 2 3 --work /tmp/search   # then:
    tools/benchmark/pruner_replay.py /tmp/search/trainyard/random-*.db    # ASHA's rules replayed
"""
import argparse
import json
import pathlib
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUNNER = ROOT / "build" / "bin" / "runner"
DATA = ROOT / "data" / "fashion-mnist-3"

SPACE = """    params:
      optimizer.lr: {{loguniform: [1.0e-5, 1.0e-1]}}
      train.batch_size: {{choice: [16, 32, 64]}}
{model_params}"""
SMALL_CNN_PARAMS = """      model.width: {choice: [8, 16, 32]}
      model.dropout: {uniform: [0.0, 0.5]}
"""
EXPERIMENT = """name: search_{name}
seed: 42
device: auto
model:     {{plugin: {model}}}
dataset:   {{plugin: imagefolder, root: {data}, image_size: {image_size}, train_fraction: 0.8}}
optimizer: {{plugin: adam}}
train:     {{epochs: {epochs}, batch_size: 32, threads: {threads}}}
output:    {{db: {db}, checkpoints: {checkpoints}, keep: last}}
sweep:
  {sampler}:
    trials: {trials}
    seed: {seed}
{space}{pruner}"""

SWEEPS = ["trainyard:random", "trainyard:random+asha", "trainyard:tpe", "trainyard:tpe+median", "trainyard:tpe+asha",
          "optuna:random", "optuna:tpe", "optuna:tpe+median", "optuna:tpe+sh"]


def trainyard_sweep(work, sweep, seed, args):
    sampler, _, pruner = sweep.partition("+")
    name = f"{sampler}{'-' + pruner if pruner else ''}-{seed}"
    db = work / f"{name}.db"
    experiment = work / f"{name}.yaml"
    experiment.write_text(EXPERIMENT.format(
        name=name.replace("-", "_"), model=args.model, data=DATA, image_size=args.image_size, epochs=args.epochs,
        threads=args.threads, db=db, checkpoints=work / f"{name}-checkpoints", sampler=sampler, trials=args.trials,
        seed=seed, space=SPACE.format(model_params=SMALL_CNN_PARAMS if args.model == "small_cnn" else ""),
        pruner=f"  pruner: {{kind: {pruner}}}\n" if pruner else ""))
    wall = timed([str(RUNNER), str(experiment)])
    with sqlite3.connect(db) as c:
        epochs = c.execute("SELECT count(*) FROM epochs").fetchone()[0]
        pruned = c.execute("SELECT count(*) FROM runs WHERE status = 'pruned'").fetchone()[0]
        best = c.execute("SELECT max(best_selection_accuracy) FROM runs WHERE status = 'finished'").fetchone()[0]
    return {"epochs": epochs, "pruned": pruned, "best": best, "wall": wall}


def optuna_sweep(work, sweep, seed, args):
    sampler, _, pruner = sweep.partition("+")
    storage = f"sqlite:///{work}/optuna-{sampler}-{pruner or 'none'}-{seed}.db"
    command = ["/usr/bin/python3", str(HERE / "optuna_search.py"), "--root", str(DATA), "--storage", storage,
               "--sampler", sampler, "--pruner", pruner or "none", "--model", args.model, "--trials",
               str(args.trials), "--epochs", str(args.epochs), "--image-size", str(args.image_size), "--seed",
               str(seed), "--threads", str(args.threads)]
    output = []
    wall = timed(command, output)
    result = json.loads(output[-1].splitlines()[-1])
    return {"epochs": result["epochs"], "pruned": result["pruned"], "best": result["best"], "wall": wall}


def timed(command, output=None):
    """Wall seconds of a command that must succeed; its stdout is appended to `output`."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"search_benchmark: {' '.join(command)} failed ({done.returncode}):\n"
                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    if output is not None:
        output.append(done.stdout)
    return wall


def row(seed, sweep, r):
    best = "-" if r["best"] is None else f"{100 * r['best']:.2f}%"
    return f"{seed:>5} {sweep:<22} {r['epochs']:>7.1f} {r['pruned']:>7.1f} {best:>9} {r['wall']:>8.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--model", choices=["small_cnn", "resnet50"], default="small_cnn")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default=",".join(SWEEPS), help="comma-separated sweeps, e.g. trainyard:tpe")
    parser.add_argument("--work", type=pathlib.Path, help="keep the sweeps' databases here (pruner_replay.py "
                        "reads them); default: a temporary folder")
    args = parser.parse_args()
    chosen = args.only.split(",")
    unknown = [s for s in chosen if s not in SWEEPS]
    if unknown:
        sys.exit(f"search_benchmark: --only {','.join(unknown)}: not a sweep here; sweeps: {', '.join(SWEEPS)}")
    print(f"{args.model} at {args.image_size}x{args.image_size} on {DATA.name}, {args.trials} trials x up to "
          f"{args.epochs} epochs, {args.threads} threads; best: held-out accuracy of a trial not pruned")
    header = f"{'seed':>5} {'sweep':<22} {'epochs':>7} {'pruned':>7} {'best':>9} {'wall s':>8}"
    print(header, flush=True)
    results = {s: [] for s in chosen}
    with tempfile.TemporaryDirectory(prefix="search-") as tmp:
        if args.work:
            # A sweep rerun into its old database would find its trials done and train nothing.
            if any(args.work.glob("*/*.db")):
                sys.exit(f"search_benchmark: --work {args.work} holds sweeps' databases already; give an empty folder")
            args.work.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:
            for sweep in chosen:
                system, _, kind = sweep.partition(":")
                work = (args.work or pathlib.Path(tmp)) / system
                work.mkdir(exist_ok=True)
                run = trainyard_sweep if system == "trainyard" else optuna_sweep
                results[sweep].append(run(work, kind, seed, args))
                print(row(seed, sweep, results[sweep][-1]), flush=True)
    print(f"means over seeds {' '.join(map(str, args.seeds))}\n{header}")
    for sweep, runs in results.items():
        bests = [r["best"] for r in runs if r["best"] is not None]
        mean = {k: statistics.mean(r[k] for r in runs) for k in ("epochs", "pruned", "wall")}
        mean["best"] = statistics.mean(bests) if bests else None
        print(row("mean", sweep, mean))


if __name__ == "__main__":
    main()
