#!/usr/bin/env python3
"""The reference recipe in Python PyTorch, as its users write it: the baseline Trainyard's
benchmark compares against. ImageFolder + DataLoader (PyTorch's defaults: no worker processes),
ResNet-50 with bottleneck blocks as in Trainyard's resnet50 plugin, Adam, cross-entropy.

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


def run_epoch(model, loader, loss_fn, optimizer=None):
    training = optimizer is not None
    model.train(training)
    loss_sum, correct, seen, waited = 0.0, 0, 0, 0.0
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
            logits = model(images)
            loss = loss_fn(logits, labels)
            if training:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            loss_sum += loss.item() * labels.size(0)
            correct += (logits.argmax(1) == labels).sum().item()
            seen += labels.size(0)
    seconds = time.perf_counter() - start
    return {"loss": loss_sum / seen, "accuracy": correct / seen, "images_per_second": seen / seconds,
            "seconds": seconds, "data_wait_fraction": waited / seconds}


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
    args = parser.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    transform = transforms.Compose([
        transforms.Resize((args.image_size, args.image_size)),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    data = datasets.ImageFolder(args.root, transform=transform)
    train_size = int(0.8 * len(data))
    train, test = torch.utils.data.random_split(
        data, [train_size, len(data) - train_size], generator=torch.Generator().manual_seed(args.seed))
    train_loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test, batch_size=args.batch_size, shuffle=False)

    model = ResNet50(len(data.classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        train_stats = run_epoch(model, train_loader, loss_fn, optimizer)
        test_stats = run_epoch(model, test_loader, loss_fn)
        print(json.dumps({"epoch": epoch, "threads": torch.get_num_threads(),
                          "train": train_stats, "test": test_stats,
                          "epoch_seconds": time.perf_counter() - start}), flush=True)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_mib": peak_kib / 1024.0}), flush=True)


if __name__ == "__main__":
    main()
