#!/usr/bin/env python3
"""Runs TorchScript files in PyTorch (torch.jit.load) on given inputs and prints their outputs as JSON.

Used by test/interop/torchscript-export.test.ts to prove that petra's TorchScript exports run in PyTorch itself (Debian's
python3-torch) with petra's outputs, not only in LibTorch. Usable by hand too:

    /usr/bin/python3 scripts/run-torchscript-in-pytorch.py manifest.json > outputs.json

manifest.json: [{"file": "model.torchscript.pt", "engine": "onednn" | "qnnpack" | null,
                 "inputs": [{"dtype": "float32" | "int64", "shape": [N, ...], "data": [flat values]}]}]
Prints [{"file", "shape", "data", "torch"}] in the same order. `engine` is the quantized engine to run int8 models
with: packed int8 weights are repacked for the engine that is active when the file is loaded.
"""
import json
import sys

import torch


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        manifest = json.load(f)
    torch.set_num_threads(1)
    results = []
    for entry in manifest:
        engine = entry.get("engine")
        if engine:
            torch.backends.quantized.engine = engine
        module = torch.jit.load(entry["file"], map_location="cpu")
        module.eval()
        args = []
        for inp in entry["inputs"]:
            dtype = torch.int64 if inp["dtype"] == "int64" else torch.float32
            args.append(torch.tensor(inp["data"], dtype=dtype).reshape(inp["shape"]))
        with torch.no_grad():
            out = module(*args)
        if isinstance(out, tuple):
            out = out[0]
        out = out.dequantize() if out.is_quantized else out
        results.append({"file": entry["file"], "shape": list(out.shape), "data": out.reshape(-1).tolist(), "torch": torch.__version__})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
