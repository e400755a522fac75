# PyTorch side of bench/qgru.ts: the same GRU + linear head in float and after torch's quantize_dynamic (ONEDNN),
# median latency per call in ms. Usage: torch_gru.py <threads> <seqLen> <inputSize> <hidden,...> <batch,...>
import json, statistics, sys, time
import torch

threads, seq_len, input_size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
hiddens = [int(h) for h in sys.argv[4].split(",")]
batches = [int(b) for b in sys.argv[5].split(",")]
torch.set_num_threads(threads)
torch.backends.quantized.engine = "onednn"


class GruHead(torch.nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.gru = torch.nn.GRU(input_size, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, 4)

    def forward(self, x):
        return self.head(self.gru(x)[0][:, -1])


def median_ms(fn, cap_s=0.5):
    for _ in range(10):
        fn()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < cap_s or len(times) < 10:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


out = {}
torch.manual_seed(0)
with torch.inference_mode():
    for h in hiddens:
        model = GruHead(h).eval()
        qmodel = torch.ao.quantization.quantize_dynamic(model, {torch.nn.GRU, torch.nn.Linear}, dtype=torch.qint8)
        for b in batches:
            x = torch.randn(b, seq_len, input_size)
            out[f"{h}/{b}"] = {"fp32": median_ms(lambda: model(x)), "int8": median_ms(lambda: qmodel(x))}
print(json.dumps({"torch": torch.__version__, "results": out}))
