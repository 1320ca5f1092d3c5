#!/usr/bin/env python3
"""Optuna's TPESampler on the toy objectives of tests/test_tpe.cpp, for comparison with
Trainyard's TPE: for seeds 1 to 10, 40 trials each, the mean distance of trials 31-40 from the
optimum. Usage: /usr/bin/python3 tools/benchmark/tpe_reference.py (Debian's python3-optuna)."""
import math
import statistics

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def last_ten_distance(suggest, distance, seed):
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(lambda t: -distance(suggest(t)), n_trials=40)
    return statistics.mean(distance(t.params["x"]) for t in study.trials[30:])


CASES = {
    "uniform [0, 1], optimum 0.3": (lambda t: t.suggest_float("x", 0, 1), lambda x: abs(x - 0.3)),
    "loguniform [1e-6, 1], optimum 1e-3 (decades)": (
        lambda t: t.suggest_float("x", 1e-6, 1, log=True), lambda x: abs(math.log10(x) + 3)),
    "int [1, 100], optimum 70": (lambda t: t.suggest_int("x", 1, 100), lambda x: abs(x - 70)),
}

if __name__ == "__main__":
    print(f"optuna {optuna.__version__}")
    for name, (suggest, distance) in CASES.items():
        d = statistics.mean(last_ten_distance(suggest, distance, seed) for seed in range(1, 11))
        print(f"{name}: {d:.3f}")
