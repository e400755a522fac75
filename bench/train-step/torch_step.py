"""PyTorch side of bench/train-step: the same models, data layout and loop as petra's native epoch.

Run with Debian's /usr/bin/python3 (python3-torch 1.13.1: the same LibTorch build petra links against).
Prints one JSON line: {"msPerStep": ...}.
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def main():
    model_name, optimizer_name, steps, warmup, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    device = torch.device(sys.argv[6] if len(sys.argv) > 6 else 'cpu')
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = (small_cnn() if model_name == 'cnn' else mlp()).to(device)
    batch = 64
    n = (steps + warmup) * batch
    g = torch.Generator().manual_seed(2)
    # 64-byte aligned, contiguous tensors allocated by torch (numpy-backed inputs can run 2x slower).
    x = torch.randn(n, 1, 28, 28, generator=g).to(device)
    y = torch.randint(0, 10, (n,), generator=g).to(device)
    if optimizer_name == 'sgd':
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def epoch(count, offset):
        perm = (torch.randperm(count * batch, generator=g) + offset * batch).to(device)
        total = 0.0
        for b in range(count):
            idx = perm[b * batch:(b + 1) * batch]
            xb = x.index_select(0, idx)
            yb = y.index_select(0, idx)
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item()
        return total

    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    epoch(warmup, 0)
    sync()
    start = time.perf_counter()
    cpu_start = time.process_time()
    epoch(steps, warmup)
    sync()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    print(json.dumps({"msPerStep": elapsed * 1000 / steps, "cpuMsPerStep": cpu * 1000 / steps, "torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(device)}))


if __name__ == '__main__':
    main()
