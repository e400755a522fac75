"""Makes test/fixtures/torchscript/*.pt: small TorchScript modules that `importTorchScript` / `petra import` turn into
petra graph specs, with each module's output on a fixed input (`<name>.json`) so tests compare against PyTorch itself.

How they were produced (re-run to regenerate; the output is deterministic for a given PyTorch build):

    apt-get install -y python3-torch          # Debian 12: PyTorch 1.13.1, the same build as the libtorch-dev petra links
    /usr/bin/python3 scripts/make-torchscript-fixtures.py

Seeds: torch.manual_seed(<per-fixture seed below>) before each model is built; BatchNorm running statistics, affine
parameters and non-default eps are set explicitly so that a wrong BatchNorm mapping cannot pass by accident. Models
are in eval mode when traced or scripted. `torch.set_num_threads(1)` keeps the reference outputs reproducible.

Fixtures:
  resnet-block.pt    traced   torchvision-style: conv-bn-relu stem, maxpool, two BasicBlocks (the second with a
                              stride-2 conv1x1+bn downsample), adaptive_avg_pool2d, flatten, fc.   [3, 32, 32] -> 10
  inception-time.pt  scripted InceptionTime: two Inception modules (bottleneck conv1d, conv1d k=9/19/39, maxpool1d
                              3/1/1 + conv1x1 branch, cat, bn, relu) with a conv1x1+bn residual shortcut, add, relu,
                              global average pooling as x.mean(-1), linear.                      [1, 150] -> 2 (GunPoint)
  gru-classifier.pt  scripted embedding(20, 8) -> GRU(8, 16, 2 layers, batch_first) -> linear on h[-1].
                              int64 [12] -> 3
  mlp.pt             traced   flatten, linear, layernorm, gelu, dropout, linear, tanh, linear, sigmoid. [4, 8] -> 3
  ops-2d.pt          traced   the variants: conv2d with bias, rectangular kernel/stride/padding, Dropout2d, in-place
                              relu, avg_pool2d, grouped conv2d padding='same', sigmoid, adaptive_max_pool2d,
                              x.view(x.size(0), -1), linear, batchnorm1d, tanh, x @ W + b (a matmul-style linear).
                              [3, 12, 16] -> 4
  bigru.pt           traced   float input -> bidirectional GRU; cat(h[-2], h[-1]) and the sequence into a second GRU
                              whose out[:, -1, :] is added to it, linear.                          [10, 5] -> 3
  unsupported.pt     scripted a conv1d followed by torch.sort and torch.einsum: import must fail naming both.

Each `<name>.json` holds the input (shape, dtype and the formula that generates it, which test/interop computes the
same way), the expected output and the PyTorch version. Input element i (flat, row-major) is
  float32: ((i * 7919) % 2001 - 1000) / 1000        (exact in float64, so JS and Python round it to the same float32)
  int64:   (i * 7) % vocab
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'torchscript')
torch.set_num_threads(1)


def float_input(shape):
    n = 1
    for d in shape:
        n *= d
    flat = torch.tensor([((i * 7919) % 2001 - 1000) / 1000 for i in range(n)], dtype=torch.float64)
    return flat.to(torch.float32).reshape(shape)


def int_input(shape, vocab):
    n = 1
    for d in shape:
        n *= d
    return torch.tensor([(i * 7) % vocab for i in range(n)], dtype=torch.int64).reshape(shape)


def randomize_bn(model):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)


# ---- torchvision-style ResNet (BasicBlock as in torchvision.models.resnet) -------------------------------------
def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class TinyResNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16, eps=1e-3)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = BasicBlock(16, 16)
        down = nn.Sequential(nn.Conv2d(16, 32, kernel_size=1, stride=2, bias=False), nn.BatchNorm2d(32))
        self.layer2 = BasicBlock(16, 32, stride=2, downsample=down)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.maxpool(x)
        x = self.layer2(self.layer1(x))
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


# ---- InceptionTime (Ismail Fawaz et al. 2020) --------------------------------------------------------------------
class InceptionModule(nn.Module):
    def __init__(self, cin, filters=8, kernels=(9, 19, 39), bottleneck=8):
        super().__init__()
        self.use_bottleneck = cin > 1
        self.bottleneck = nn.Conv1d(cin, bottleneck, 1, bias=False) if cin > 1 else nn.Identity()
        width = bottleneck if cin > 1 else cin
        self.convs = nn.ModuleList([nn.Conv1d(width, filters, k, padding=k // 2, bias=False) for k in kernels])
        self.maxpool = nn.MaxPool1d(3, stride=1, padding=1)
        self.conv_pool = nn.Conv1d(cin, filters, 1, bias=False)
        self.bn = nn.BatchNorm1d(filters * (len(kernels) + 1))

    def forward(self, x):
        b = self.bottleneck(x)
        branches = [conv(b) for conv in self.convs]
        branches.append(self.conv_pool(self.maxpool(x)))
        return F.relu(self.bn(torch.cat(branches, dim=1)))


class InceptionTime(nn.Module):
    def __init__(self, cin=1, classes=2, filters=8):
        super().__init__()
        width = filters * 4
        self.inc1 = InceptionModule(cin, filters)
        self.inc2 = InceptionModule(width, filters)
        self.shortcut = nn.Sequential(nn.Conv1d(cin, width, 1, bias=False), nn.BatchNorm1d(width))
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        y = self.inc2(self.inc1(x))
        y = F.relu(y + self.shortcut(x))
        return self.fc(y.mean(dim=-1))


# ---- GRU sequence classifier -------------------------------------------------------------------------------------
class GruClassifier(nn.Module):
    def __init__(self, vocab=20, dim=8, hidden=16, classes=3):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.gru = nn.GRU(dim, hidden, num_layers=2, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        out, h = self.gru(self.emb(x))
        return self.fc(h[-1])


# ---- MLP with the remaining activations --------------------------------------------------------------------------
class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(32, 24)
        self.norm = nn.LayerNorm(24, eps=1e-6)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(24, 16)
        self.fc3 = nn.Linear(16, 3)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = self.drop(F.gelu(self.norm(self.fc1(x))))
        x = torch.tanh(self.fc2(x))
        return torch.sigmoid(self.fc3(x))


# ---- variants of the supported ops ---------------------------------------------------------------------------------
class Ops2d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, (3, 5), stride=(1, 2), padding=(1, 2))
        self.drop = nn.Dropout2d(0.1)
        self.conv2 = nn.Conv2d(6, 8, 3, padding='same', groups=2)
        self.fc = nn.Linear(32, 12)
        self.bn = nn.BatchNorm1d(12)
        self.w = nn.Parameter(torch.randn(12, 4) * 0.3)
        self.b = nn.Parameter(torch.randn(4) * 0.1)

    def forward(self, x):
        x = self.drop(F.relu(self.conv1(x), inplace=True))
        x = F.avg_pool2d(x, 2)
        x = torch.sigmoid(self.conv2(x))
        x = F.adaptive_max_pool2d(x, (2, 2))
        x = x.view(x.size(0), -1)
        x = torch.tanh(self.bn(self.fc(x)))
        return x @ self.w + self.b


class BiGru(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru1 = nn.GRU(5, 8, batch_first=True, bidirectional=True)
        self.gru2 = nn.GRU(16, 16, batch_first=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        seq, h = self.gru1(x)
        last = torch.cat([h[-2], h[-1]], dim=1)
        out, _ = self.gru2(seq)
        return self.fc(out[:, -1, :] + last)


# ---- ops petra has no node for ------------------------------------------------------------------------------------
class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        y, _ = torch.sort(y, dim=-1)
        return torch.einsum('bcl,bcl->bc', y, y)


def save(name, module, example, how, note, vocab=None):
    module.eval()
    if how == 'traced':
        script = torch.jit.trace(module, (example,))
    else:
        script = torch.jit.script(module)
    path = os.path.join(OUT, name + '.pt')
    script.save(path)
    with torch.no_grad():
        expected = module(example)
        check = torch.jit.load(path)(example)
    assert torch.equal(expected, check), name
    meta = {
        'module': name + '.pt', 'how': how, 'note': note, 'torch': torch.__version__,
        'input': {'shape': list(example.shape), 'dtype': 'int64' if example.dtype == torch.int64 else 'float32',
                  'formula': '(i * 7) % vocab' if vocab else '((i * 7919) % 2001 - 1000) / 1000',
                  **({'vocab': vocab} if vocab else {})},
        'output': {'shape': list(expected.shape), 'data': [float('%.9g' % v) for v in expected.flatten().tolist()]},
    }
    with open(os.path.join(OUT, name + '.json'), 'w') as f:
        json.dump(meta, f, indent=1)
        f.write('\n')
    print(path, os.path.getsize(path), 'bytes')


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(1)
    resnet = TinyResNet()
    randomize_bn(resnet)
    save('resnet-block', resnet, float_input([4, 3, 32, 32]), 'traced', 'torchvision-style BasicBlock ResNet')

    torch.manual_seed(2)
    inception = InceptionTime()
    randomize_bn(inception)
    save('inception-time', inception, float_input([4, 1, 150]), 'scripted', 'InceptionTime, GunPoint-shaped input')

    torch.manual_seed(3)
    save('gru-classifier', GruClassifier(), int_input([4, 12], 20), 'scripted', 'embedding + 2-layer GRU + linear', vocab=20)

    torch.manual_seed(4)
    save('mlp', Mlp(), float_input([4, 4, 8]), 'traced', 'flatten, linear, layernorm, gelu, dropout, tanh, sigmoid')

    torch.manual_seed(6)
    ops = Ops2d()
    randomize_bn(ops)
    save('ops-2d', ops, float_input([4, 3, 12, 16]), 'traced', 'variants of conv2d, pooling, view, matmul + add')

    torch.manual_seed(7)
    save('bigru', BiGru(), float_input([4, 10, 5]), 'traced', 'bidirectional GRU, sequence output into a second GRU')

    torch.manual_seed(5)
    save('unsupported', Unsupported(), float_input([4, 2, 10]), 'scripted', 'torch.sort and torch.einsum: no petra node')


if __name__ == '__main__':
    main()
