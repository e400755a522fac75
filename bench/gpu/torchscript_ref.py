"""GPU reference for the measurement lab: makes a TorchScript ResNet-style model and times it with PyTorch's own
torch.utils.benchmark (Timer.adaptive_autorange), so petra's `bench` on the same file can be compared.

usage: python3 bench/gpu/torchscript_ref.py OUT_DIR DEVICE  -> OUT_DIR/ref-model.pt and prints JSON medians (ms).
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.utils.benchmark as benchmark


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.b = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.bn2(self.b(torch.relu(self.bn1(self.a(x))))))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 64, 3, padding=1)
        self.blocks = nn.Sequential(*[Block(64) for _ in range(4)])
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        x = self.blocks(torch.relu(self.stem(x)))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


out_dir, device = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
model = torch.jit.script(Net().eval().to(device))
path = os.path.join(out_dir, 'ref-model.pt')
model.save(path)
results = {}
with torch.inference_mode():
    for batch in (1, 64):
        x = torch.randn(batch, 3, 32, 32, device=device)
        for _ in range(10):
            model(x)
        t = benchmark.Timer(stmt='model(x)', globals={'model': model, 'x': x})
        m = t.adaptive_autorange(threshold=0.02, min_run_time=1.0)
        results[str(batch)] = m.median * 1000
print(json.dumps({"model": path, "torch": torch.__version__, "medianMs": results}))
