#!/usr/bin/env python3
"""How fast the dashboard (`results serve`) answers what a user opens, on a large database:

1. the runs page: time to its first byte, and to the whole default page of runs its script
   fetches (/api/runs, 50 runs, newest first);
2. a sorted, filtered page of runs (best test accuracy, one learning rate, finished only);
3. a run page of 1,000 epochs drawn in headless Chromium: from navigation start to the charts
   and the epoch table drawn, as the page itself measures it (performance.now()).

Each request is timed `--repeat` times; the median and the worst are printed.

    tools/benchmark/dashboard_benchmark.py [--runs 20000] [--epochs 20] [--repeat 7]

The databases are made with build/bin/results_benchmark (write_synthetic_results), once.
"""
import argparse
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
RESULTS = REPO / "build" / "bin" / "results"
MAKER = REPO / "build" / "bin" / "results_benchmark"


def make_database(path, runs, epochs):
    if not path.exists():
        subprocess.run([str(MAKER), "--runs", str(runs), "--epochs", str(epochs), "--db", str(path)], check=True,
                       stdout=subprocess.DEVNULL)


class Server:
    def __init__(self, db, log):
        self.log = log
        self.process = subprocess.Popen([str(RESULTS), "--db", str(db), "serve", "--port", "0"],
                                        stdout=open(log, "w"), stderr=subprocess.STDOUT)
        for _ in range(300):
            found = re.search(r"dashboard: (http://\S+?)/ ", log.read_text())
            if found:
                self.url = found.group(1)
                return
            time.sleep(0.1)
        raise RuntimeError("results serve did not start: " + log.read_text())

    def stop(self):
        self.process.terminate()
        self.process.wait()


def first_byte_and_whole(url):
    start = time.perf_counter()
    with urllib.request.urlopen(url) as response:
        response.read(1)
        first = time.perf_counter() - start
        response.read()
        return first * 1000, (time.perf_counter() - start) * 1000


def report(name, url, repeat):
    samples = [first_byte_and_whole(url) for _ in range(repeat)]
    first = [s[0] for s in samples]
    whole = [s[1] for s in samples]
    print(f"{name:<46} first byte {statistics.median(first):7.1f} ms (worst {max(first):6.1f})   "
          f"whole {statistics.median(whole):7.1f} ms (worst {max(whole):6.1f})")


def chromium_draw_ms(url, profile):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        return None
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                          "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=20000",
                          "--dump-dom", url], capture_output=True, text=True, check=True).stdout
    found = re.search(r'data-draw-ms="([0-9.]+)"', dom)
    epochs = re.search(r'data-epochs="([0-9]+)"', dom)
    return (float(found.group(1)), int(epochs.group(1))) if found and epochs else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    large = args.work / f"trainyard-dashboard-{args.runs}x{args.epochs}.db"
    long_run = args.work / "trainyard-dashboard-3x1000.db"
    make_database(large, args.runs, args.epochs)
    make_database(long_run, 3, 1000)

    server = Server(large, args.work / "dashboard-benchmark.log")
    try:
        print(f"{args.runs} runs x {args.epochs} epochs ({large}); median of {args.repeat}")
        report("runs page (HTML)", server.url + "/runs", args.repeat)
        report("runs page's data (/api/runs, 50 newest)", server.url + "/api/runs", args.repeat)
        report("sorted, filtered page (/api/runs?...)", server.url +
               "/api/runs?sort=best_test_accuracy&where=optimizer.lr%3D0.001&status=finished&limit=50", args.repeat)
        report("sorted by a config key, page 100", server.url +
               "/api/runs?sort=train.batch_size&order=asc&limit=50&offset=5000", args.repeat)
        report("a run (/api/runs/123)", server.url + "/api/runs/123", args.repeat)
    finally:
        server.stop()

    server = Server(long_run, args.work / "dashboard-benchmark-long.log")
    try:
        with tempfile.TemporaryDirectory() as profile:
            draws = [chromium_draw_ms(server.url + "/runs/1", profile) for _ in range(3)]
        if None in draws:
            print("run page of 1,000 epochs: Chromium is not installed or the page did not draw")
        else:
            ms = sorted(d[0] for d in draws)
            print(f"run page of {draws[0][1]} epochs drawn in Chromium: {ms[1]:.0f} ms from navigation start "
                  f"(median of 3; {', '.join(f'{m:.0f}' for m in ms)})")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
