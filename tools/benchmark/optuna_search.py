#!/usr/bin/env python3
"""The Optuna side of search_benchmark.py: one study over the benchmark's search space, with
Optuna's defaults (Debian's python3-optuna 3.1) and SQLite storage, each trial trained in this
process as an Optuna user writes it, with what makes PyTorch fast on this CPU switched on (bf16
autocast where the CPU has it, channels-last, the images decoded once before the study).

    optuna_search.py --root data/fashion-mnist-3 --storage sqlite:////tmp/o.db \
        --sampler tpe --pruner median --trials 24 --epochs 4 --seed 1 --threads 2

Each trial reports its held-out accuracy after every epoch (trial.report, for the pruner) and
returns the best of them (the run keeps its best epoch, as Trainyard's best.pt does). Prints one
JSON object: trials, pruned, epochs trained, the best value and the wall time from before
`import torch` to the study's end.
"""
import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402

import optuna  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import python_recipe  # noqa: E402

# The search space of search_benchmark.py, in Optuna's words.
BATCH_SIZES = [16, 32, 64]
WIDTHS = [8, 16, 32]


class SmallCnn(nn.Module):
    """Trainyard's small_cnn plugin (templates/model-plugin/small_cnn.cpp), layer for layer."""

    def __init__(self, in_channels, num_classes, width, dropout):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        return self.classifier(self.dropout(self.features(x).flatten(1)))


def decoded(split):
    """A split's images and labels as two tensors, decoded once (the runner's decoded cache)."""
    images, labels = zip(*(split[i] for i in range(len(split))))
    return torch.utils.data.TensorDataset(torch.stack(images), torch.tensor(labels))


def make_objective(args, train, test, classes):
    device = torch.device("cpu")
    tuning = python_recipe.Tuning(True, device)
    loss_fn = nn.CrossEntropyLoss()

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        batch_size = trial.suggest_categorical("batch_size", BATCH_SIZES)
        width = trial.suggest_categorical("width", WIDTHS)
        dropout = trial.suggest_float("dropout", 0.0, 0.5)
        torch.manual_seed(42)
        if args.model == "small_cnn":
            model = SmallCnn(3, classes, width, dropout)
        else:
            model = python_recipe.ResNet50(classes)
        model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        train_loader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True)
        test_loader = torch.utils.data.DataLoader(test, batch_size=batch_size)
        best = 0.0
        for epoch in range(1, args.epochs + 1):
            python_recipe.run_epoch(model, train_loader, loss_fn, device, tuning, optimizer)
            accuracy = python_recipe.run_epoch(model, test_loader, loss_fn, device, tuning)["accuracy"]
            trial.set_user_attr("epochs", epoch)
            best = max(best, accuracy)
            trial.report(accuracy, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return best

    return objective


def make_sampler(name, seed):
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(name):
    if name == "median":
        return optuna.pruners.MedianPruner()
    if name == "sh":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True)
    parser.add_argument("--storage", required=True, help="an Optuna storage URL, e.g. sqlite:////tmp/o.db")
    parser.add_argument("--sampler", choices=["tpe", "random"], default="tpe")
    parser.add_argument("--pruner", choices=["none", "median", "sh"], default="none")
    parser.add_argument("--model", choices=["small_cnn", "resnet50"], default="small_cnn")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data, train, test = python_recipe.image_folder_splits(args.root, args.image_size, 42)
    train, test = decoded(train), decoded(test)
    study = optuna.create_study(study_name="search", storage=args.storage, direction="maximize",
                                sampler=make_sampler(args.sampler, args.seed), pruner=make_pruner(args.pruner))
    study.optimize(make_objective(args, train, test, len(data.classes)), n_trials=args.trials)
    states = optuna.trial.TrialState
    complete = [t for t in study.trials if t.state == states.COMPLETE]
    print(json.dumps({
        "trials": len(study.trials),
        "pruned": sum(t.state == states.PRUNED for t in study.trials),
        "epochs": sum(t.user_attrs.get("epochs", 0) for t in study.trials),
        "best": max(t.value for t in complete) if complete else None,
        "best_params": study.best_params if complete else None,
        "threads": torch.get_num_threads(),
        "wall_seconds": time.perf_counter() - STARTED}), flush=True)


if __name__ == "__main__":
    main()
