#!/usr/bin/env python3
"""Prediction throughput: `runner --predict` with a model package against what a Python user
writes, torchvision's ImageFolder + DataLoader + model.eval() under torch.no_grad(), on the same
LibTorch, the same threads and the same images (224x224 by default).

The package comes from a one-epoch ResNet-50 run of the reference recipe on a few of the images
(its weights do not change the speed). Each side runs as a whole process, alternated --repeats
times; the best of each is reported, with the images/s of the prediction loop alone (the runner
logs it; the Python script times its loop) and of the whole process (imports and start-up too).
Python is measured as written (PyTorch's defaults) and tuned (bf16 autocast and channels-last,
as the runner computes, and DataLoader workers).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PYTHON_PREDICT = r"""
import json, sys, time
import torch
from torchvision import datasets, transforms
sys.path.insert(0, sys.argv[1])
from python_recipe import ResNet50
root, size, batch, threads, tuned, workers = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1", int(sys.argv[7])
torch.set_num_threads(threads)
transform = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(),
                                transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
data = datasets.ImageFolder(root, transform)
loader = torch.utils.data.DataLoader(data, batch_size=batch, num_workers=workers)
model = ResNet50(len(data.classes)).eval()
if tuned:
    model = model.to(memory_format=torch.channels_last)
start = time.perf_counter()
count = 0
with torch.no_grad():
    for images, _ in loader:
        if tuned:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=tuned):
            probabilities = torch.softmax(model(images).float(), 1)
        count += images.shape[0]
print(json.dumps({"images": count, "seconds": time.perf_counter() - start}))
"""


def timed(command, cwd=None, env=None):
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(map(str, command))}\n{result.stdout}\n{result.stderr}")
    return wall, result.stdout + result.stderr


def make_package(args, work):
    """A one-epoch ResNet-50 run on a few images of --root, exported."""
    small = work / "small"
    for class_dir in sorted(p for p in args.root.iterdir() if p.is_dir()):
        (small / class_dir.name).mkdir(parents=True)
        for image in sorted(class_dir.iterdir())[:6]:
            (small / class_dir.name / image.name).symlink_to(image.resolve())
    common = ["--set", f"dataset.root={small}", "--set", "train.epochs=1", "--set", f"train.threads={args.threads}",
              "--set", f"train.batch_size={args.batch_size}", "--set", f"dataset.image_size={args.image_size}",
              "--set", f"output.db={work / 'p.db'}", "--set", f"output.checkpoints={work / 'checkpoints'}"]
    timed([str(args.runner), str(REPO / "experiments" / "resnet50_adam.yaml"), *common])
    timed([str(args.runner), "--db", str(work / "p.db"), "--export", "1", "--out", str(work / "model.typkg")])
    return work / "model.typkg"


def run_trainyard(args, package, work):
    wall, output = timed([str(args.runner), "--predict", str(package), str(args.root), "--out", str(work / "p.csv")])
    match = re.search(r"(\d+) images classified in ([0-9.]+) s", output)
    return {"images": int(match.group(1)), "loop_seconds": float(match.group(2)), "wall_seconds": wall}


def run_python(args, tuned, workers):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    wall, output = timed([args.python, "-c", PYTHON_PREDICT, str(REPO / "tools" / "benchmark"), str(args.root),
                          str(args.image_size), str(args.batch_size), str(args.threads), "1" if tuned else "0",
                          str(workers)], env=env)
    figures = json.loads(output.strip().splitlines()[-1])
    return {"images": figures["images"], "loop_seconds": figures["seconds"], "wall_seconds": wall}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True, type=Path, help="an ImageFolder to classify")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the tuned Python")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runner", type=Path, default=REPO / "build" / "bin" / "runner")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        package = make_package(args, work)
        sides = {"trainyard": lambda: run_trainyard(args, package, work),
                 "python": lambda: run_python(args, False, 0),
                 "python tuned": lambda: run_python(args, True, args.workers)}
        best = {}
        for _ in range(args.repeats):  # alternated, so that a noisy minute hits every side alike
            for name, run in sides.items():
                figures = run()
                if name not in best or figures["loop_seconds"] < best[name]["loop_seconds"]:
                    best[name] = figures
    print(f"{'side':14} {'images':>7} {'loop img/s':>11} {'process img/s':>14}")
    for name, f in best.items():
        print(f"{name:14} {f['images']:7d} {f['images'] / f['loop_seconds']:11.1f} {f['images'] / f['wall_seconds']:14.1f}")
    ours = best["trainyard"]["images"] / best["trainyard"]["loop_seconds"]
    for name in ("python", "python tuned"):
        theirs = best[name]["images"] / best[name]["loop_seconds"]
        print(f"trainyard / {name}: {ours / theirs:.2f}x (loop), "
              f"{best[name]['wall_seconds'] / best['trainyard']['wall_seconds']:.2f}x (whole process)")


if __name__ == "__main__":
    main()
