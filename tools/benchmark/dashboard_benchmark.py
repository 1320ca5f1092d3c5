#!/usr/bin/env python3
"""How fast the dashboard (`results serve`) answers what a user opens, on a large database:

1. the runs page: time to its first byte, and to the whole default page of runs its script
   fetches (/api/runs, 50 runs, newest first);
2. a sorted, filtered page of runs (best test accuracy, one learning rate, finished only);
3. a run page of 1,000 epochs drawn in headless Chromium: from navigation start to the charts
   and the epoch table drawn, as the page itself measures it (performance.now(), read over the
   DevTools protocol on real time).

Each request is timed `--repeat` times; the median and the worst are printed.

    tools/benchmark/dashboard_benchmark.py [--runs 20000] [--epochs 20] [--repeat 7]

The databases are made with build/bin/results_benchmark (write_synthetic_results), once.
"""
import argparse
import base64
import json
import os
import re
import socket
import struct
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


class DevTools:
    """Just enough of the Chrome DevTools protocol over a WebSocket (RFC 6455, text frames) to
    open a page in headless Chromium and read values from it, on real time (the DOM dump's
    --virtual-time-budget would stop the clock during fetches)."""

    def __init__(self, browser, profile):
        self.process = subprocess.Popen([browser, "--headless", "--no-sandbox", "--disable-gpu",
                                         "--disable-dev-shm-usage", "--no-first-run", f"--user-data-dir={profile}",
                                         "--remote-debugging-port=0", "about:blank"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        active = Path(profile) / "DevToolsActivePort"
        for _ in range(300):
            if active.exists() and active.read_text().count("\n") >= 1:
                break
            time.sleep(0.05)
        port, path = active.read_text().split("\n")[:2]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as response:
            page = next(t for t in json.load(response) if t["type"] == "page")
        self.socket = socket.create_connection(("127.0.0.1", int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        target = page["webSocketDebuggerUrl"].split(f":{port}", 1)[1]
        self.socket.sendall((f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += self.socket.recv(4096)
        self.buffer = reply.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0

    def _send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81]) + (bytes([0x80 | len(data)]) if len(data) < 126 else
                                  bytes([0x80 | 126]) + struct.pack(">H", len(data)))
        self.socket.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n):
        while len(self.buffer) < n:
            self.buffer += self.socket.recv(65536)
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _receive(self):
        message = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            message += self._read(length)
            if first & 0x80:
                return json.loads(message)

    def call(self, method, **params):
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            answer = self._receive()
            if answer.get("id") == self.next_id:
                return answer.get("result", {})

    def evaluate(self, expression):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True).get("result", {}).get("value")

    def close(self):
        self.socket.close()
        self.process.terminate()
        self.process.wait()


def chromium_draw_ms(url, profile):
    """(ms from navigation start to the run page drawn, its epochs), by the page's own clock."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        return None
    tools = DevTools(browser, profile)
    try:
        tools.call("Page.navigate", url=url)
        for _ in range(1000):
            drawn = tools.evaluate("document.body && document.body.dataset.state === 'drawn' ? "
                                   "[Number(document.querySelector('[data-draw-ms]').dataset.drawMs), "
                                   "Number(document.querySelector('[data-epochs]').dataset.epochs)] : null")
            if drawn:
                return drawn[0], drawn[1]
            time.sleep(0.01)
        return None
    finally:
        tools.close()


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
        draws = []
        for _ in range(3):  # a fresh profile each time: nothing cached
            with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
                draws.append(chromium_draw_ms(server.url + "/runs/1", profile))
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
