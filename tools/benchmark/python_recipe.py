#!/usr/bin/env python3
"""The reference recipe in Python PyTorch, as its users write it: the baseline Trainyard's
benchmark compares against. ImageFolder + DataLoader (PyTorch's defaults: no worker processes),
ResNet-50 with bottleneck blocks as in Trainyard's resnet50 plugin, Adam, cross-entropy.

--tuned applies what PyTorch's performance guide recommends: autocast (on a GPU bf16 where it
has it, else fp16 with a GradScaler; on a CPU bf16 where the CPU computes it natively, else
none), channels-last, cuDNN autotuning, DataLoader worker processes (--workers) with pinned
memory and non-blocking copies, and no per-step host synchronization.

Prints one JSON object per epoch and a final one with the peak resident memory.
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
from torchvision import datasets, transforms


class Bottleneck(nn.Module):
    """1x1 down (carrying the stride, as the original paper), 3x3, 1x1 up, plus the shortcut."""

    expansion = 4

    def __init__(self, in_channels, width, stride, project):
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                          nn.BatchNorm2d(out_channels))
            if project else None)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = out + (self.shortcut(x) if self.shortcut is not None else x)
        return self.relu(out)


class ResNet50(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
            nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=0))
        layers, in_channels = [], 64
        for stage, (width, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
            stride = 1 if stage == 0 else 2
            stage_blocks = []
            for b in range(blocks):
                stage_blocks.append(Bottleneck(in_channels, width, stride if b == 0 else 1, b == 0))
                in_channels = width * Bottleneck.expansion
            layers.append(nn.Sequential(*stage_blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x):
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(torch.flatten(self.pool(x), 1))


def run_epoch(model, loader, loss_fn, device, tuning, optimizer=None, scaler=None):
    """One pass. Plain: as the tutorials write it (a .item() per step). Tuned: autocast,
    channels-last, non-blocking copies, metrics summed on the device and read once."""
    training = optimizer is not None
    model.train(training)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen, waited = 0, 0.0
    start = time.perf_counter()
    batches = iter(loader)
    with torch.set_grad_enabled(training):
        while True:
            wait_start = time.perf_counter()
            try:
                images, labels = next(batches)
            except StopIteration:
                break
            waited += time.perf_counter() - wait_start
            images = images.to(device, non_blocking=tuning.tuned)
            labels = labels.to(device, non_blocking=tuning.tuned)
            if tuning.tuned:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=tuning.amp_dtype, enabled=tuning.amp_dtype is not None):
                logits = model(images)
            loss = loss_fn(logits.float(), labels)
            if training:
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
            if tuning.tuned:
                loss_sum += loss.detach().double() * labels.size(0)
                correct += (logits.argmax(1) == labels).sum()
            else:
                loss_sum += loss.item() * labels.size(0)
                correct += (logits.argmax(1) == labels).sum().item()
            seen += labels.size(0)
    loss_sum, correct = loss_sum.item(), correct.item()   # waits for the device
    seconds = time.perf_counter() - start
    return {"loss": loss_sum / seen, "accuracy": correct / seen, "images_per_second": seen / seconds,
            "seconds": seconds, "data_wait_fraction": waited / seconds}


def cpu_has_native_bf16():
    """Whether the CPU computes bf16 itself (AVX-512 BF16 or AMX). Elsewhere oneDNN emulates it:
    a 3x3 conv under bf16 autocast took 13.8 s against 0.30 s in fp32 on an AVX2-only AMD EPYC
    (2 threads, 2026-12-03), so a tuned recipe stays in fp32 there, as Trainyard's precision auto does."""
    try:
        with open("/proc/cpuinfo") as info:
            flags = next((line.split() for line in info if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class Tuning:
    def __init__(self, tuned, device):
        self.tuned = tuned
        self.amp_dtype = None
        if tuned and device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        elif tuned and cpu_has_native_bf16():
            self.amp_dtype = torch.bfloat16


def image_folder_splits(root, image_size, seed):
    """The tutorial's data: ImageFolder resized and normalized, split 80/20 by the seed."""
    transform = transforms.Compose([
        transforms.Resize((image_size, image_size)),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    data = datasets.ImageFolder(root, transform=transform)
    train_size = int(0.8 * len(data))
    train, test = torch.utils.data.random_split(
        data, [train_size, len(data) - train_size], generator=torch.Generator().manual_seed(seed))
    return data, train, test


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch.set_num_threads(N); 0 keeps PyTorch's default")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--tuned", action="store_true",
                        help="autocast, channels-last, cuDNN autotuning, loader workers, no per-step sync")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    args = parser.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    tuning = Tuning(args.tuned, device)
    if args.tuned and device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(args.seed)
    data, train, test = image_folder_splits(args.root, args.image_size, args.seed)
    loader_options = {"batch_size": args.batch_size, "num_workers": args.workers,
                      "pin_memory": args.tuned and device.type == "cuda",
                      "persistent_workers": args.workers > 0}
    train_loader = torch.utils.data.DataLoader(train, shuffle=True, **loader_options)
    test_loader = torch.utils.data.DataLoader(test, shuffle=False, **loader_options)

    model = ResNet50(len(data.classes)).to(device)
    if args.tuned:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scaler = torch.cuda.amp.GradScaler() if tuning.amp_dtype == torch.float16 else None
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        train_stats = run_epoch(model, train_loader, loss_fn, device, tuning, optimizer, scaler)
        test_stats = run_epoch(model, test_loader, loss_fn, device, tuning)
        print(json.dumps({"epoch": epoch, "threads": torch.get_num_threads(),
                          "autocast": str(tuning.amp_dtype).replace("torch.", "") if tuning.amp_dtype else "off",
                          "train": train_stats, "test": test_stats,
                          "epoch_seconds": time.perf_counter() - start}), flush=True)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_mib": peak_kib / 1024.0}), flush=True)


if __name__ == "__main__":
    main()
