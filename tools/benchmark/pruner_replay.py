#!/usr/bin/env python3
"""What ASHA would have spent and found on sweeps that ran unpruned: replays Trainyard's ASHA rule
(sweep.pruner kind asha, pruner.cpp) over the recorded learning curves of random sweeps, for
several reductions and first rungs, without training again.

A trial's curve does not depend on the pruner (each trial is deterministic given its
configuration), and with one trial at a time (jobs 1) trial i's decision at a rung sees exactly
the trials before it that reached the rung, so the replay is what the pruned sweep would do.
Checked: on seed 1 of the quick-start search it gives the 38 epochs and 89.33% best that the
pruned sweep recorded.

    tools/benchmark/search_benchmark.py --only trainyard:random --seeds 1 2 3 --work /tmp/search
    tools/benchmark/pruner_replay.py /tmp/search/trainyard/random-*.db [--trials 12]

Prints, per rule: the epochs trained (and their share of the unpruned sweep's), the trials that
finished, and the best selection accuracy of a finished trial against the unpruned sweep's best,
as means over the databases (per database in brackets).
"""
import argparse
import sqlite3
import statistics


def curves(db):
    """Each trial's selection accuracy per epoch, in the order the trials ran."""
    with sqlite3.connect(db) as c:
        runs = [r[0] for r in c.execute("SELECT id FROM runs WHERE sweep_id IS NOT NULL ORDER BY id")]
        return [[row[0] for row in c.execute(
            "SELECT CASE WHEN r.select_on = 'val' THEN e.val_accuracy ELSE e.test_accuracy END "
            "FROM epochs e JOIN runs r ON r.id = e.run_id WHERE e.run_id = ? ORDER BY e.epoch", (run,))]
            for run in runs]


def replay(trials, reduction, min_epochs, epochs):
    """(epochs trained, best accuracy of a finished trial, trials finished) under ASHA's rule: at a
    rung a trial goes on when in the top max(1, n // reduction) of the n trials that reached it."""
    rungs, at = set(), min_epochs
    while at < epochs:  # never decided at the last epoch
        rungs.add(at)
        at *= reduction
    reached = {rung: [] for rung in rungs}
    trained, finished = 0, []
    for curve in trials:
        for epoch in range(1, epochs + 1):
            trained += 1
            value = curve[epoch - 1]
            if epoch in rungs:
                reached[epoch].append(value)
                ranked = sorted(reached[epoch], reverse=True)
                if value < ranked[max(1, len(ranked) // reduction) - 1]:
                    break
        else:
            finished.append(max(curve))
    return trained, max(finished) if finished else 0.0, len(finished)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("databases", nargs="+", help="results databases of unpruned random sweeps")
    parser.add_argument("--trials", type=int, default=0, help="replay only each sweep's first N trials")
    parser.add_argument("--reductions", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--min-epochs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    sweeps = []
    for db in args.databases:
        trials = curves(db)
        trials = trials[:args.trials] if args.trials else trials
        lengths = {len(c) for c in trials}
        if len(lengths) != 1:
            raise SystemExit(f"pruner_replay: {db}: trials of different lengths {sorted(lengths)}; "
                             "replay a sweep that ran unpruned to the end")
        sweeps.append(trials)
    epochs = len(sweeps[0][0])
    full_best = [max(max(c) for c in trials) for trials in sweeps]
    print(f"{len(sweeps)} sweeps of {len(sweeps[0])} trials x {epochs} epochs; unpruned best "
          f"{100 * statistics.mean(full_best):.2f}%")
    for min_epochs in args.min_epochs:
        for reduction in args.reductions:
            runs = [replay(trials, reduction, min_epochs, epochs) for trials in sweeps]
            trained = statistics.mean(r[0] for r in runs)
            gaps = [100 * (r[1] - best) for r, best in zip(runs, full_best)]
            print(f"reduction {reduction} min_epochs {min_epochs}: epochs {trained:5.1f} "
                  f"({100 * trained / (epochs * len(sweeps[0])):.0f}%), finished "
                  f"{statistics.mean(r[2] for r in runs):.1f}, best {100 * statistics.mean(r[1] for r in runs):.2f}% "
                  f"({statistics.mean(gaps):+.2f} points) [{' '.join(f'{g:+.1f}' for g in gaps)}]")


if __name__ == "__main__":
    main()
