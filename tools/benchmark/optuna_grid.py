#!/usr/bin/env python3
"""The baseline of Trainyard's sweep benchmark: the same grid through Optuna (Debian's
python3-optuna) with its defaults and SQLite storage, each trial the reference recipe of
python_recipe.py (ResNet-50, Adam, cross-entropy) trained in this one process, as an Optuna user
writes it: GridSampler over the grid, `study.optimize(objective)`, the trial's test accuracy as
the objective.

    optuna_grid.py --root data/bench-600 --storage sqlite:////tmp/optuna.db \
        --lr 1e-3,1e-4 --batch-size 16,32 --image-size 32 --epochs 1 --threads 2

Prints one JSON object per trial and a final one with the study's wall time (from before
`import torch` to the last trial's end, so that it counts what a user waits for).
"""
import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402

import optuna  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import python_recipe  # noqa: E402


def numbers(text, kind):
    return [kind(v) for v in text.split(",")]


def make_objective(args, device):
    tuning = python_recipe.Tuning(args.tuned, device)

    def objective(trial):
        lr = trial.suggest_categorical("lr", args.lr)
        batch_size = trial.suggest_categorical("batch_size", args.batch_size)
        torch.manual_seed(args.seed)
        data, train, test = python_recipe.image_folder_splits(args.root, args.image_size, args.seed)
        train_loader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True)
        test_loader = torch.utils.data.DataLoader(test, batch_size=batch_size)
        model = python_recipe.ResNet50(len(data.classes)).to(device)
        if args.tuned:
            model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        loss_fn = nn.CrossEntropyLoss()
        start = time.perf_counter()
        accuracy = 0.0
        for epoch in range(1, args.epochs + 1):
            python_recipe.run_epoch(model, train_loader, loss_fn, device, tuning, optimizer)
            accuracy = python_recipe.run_epoch(model, test_loader, loss_fn, device, tuning)["accuracy"]
            trial.report(accuracy, epoch)
        print(json.dumps({"trial": trial.number, "lr": lr, "batch_size": batch_size, "test_accuracy": accuracy,
                          "seconds": time.perf_counter() - start}), flush=True)
        return accuracy

    return objective


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True)
    parser.add_argument("--storage", required=True, help="an Optuna storage URL, e.g. sqlite:////tmp/o.db")
    parser.add_argument("--lr", type=lambda t: numbers(t, float), default=[1e-3, 1e-4])
    parser.add_argument("--batch-size", type=lambda t: numbers(t, int), default=[16, 32])
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads(N); 0: PyTorch's default")
    parser.add_argument("--tuned", action="store_true", help="bf16 autocast and channels-last")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    grid = {"lr": args.lr, "batch_size": args.batch_size}
    study = optuna.create_study(study_name="grid", storage=args.storage, direction="maximize",
                                sampler=optuna.samplers.GridSampler(grid))
    study.optimize(make_objective(args, device), n_trials=len(args.lr) * len(args.batch_size))
    print(json.dumps({"trials": len(study.trials), "threads": torch.get_num_threads(),
                      "best": study.best_params, "wall_seconds": time.perf_counter() - STARTED}), flush=True)


if __name__ == "__main__":
    main()
