{
  "targets": [
    {
      "target_name": "petra",
      "sources": [
        "native/addon.cc",
        "native/bench.cc",
        "native/common.cc",
        "native/compress.cc",
        "native/compute_thread.cc",
        "native/cpu_isa.cc",
        "native/dataset.cc",
        "native/graph_module.cc",
        "native/int8_kernels.cc",
        "native/int8_recurrence.cc",
        "native/int8_scheme.cc",
        "native/memory.cc",
        "native/model.cc",
        "native/quantize.cc",
        "native/torchscript_import.cc",
        "native/torchscript_export.cc",
        "native/trainer.cc"
      ],
      "include_dirs": [
        "native",
        "<!@(node scripts/find-libtorch.mjs --gyp-include)"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except_all"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "<!@(node scripts/find-libtorch.mjs --gyp-defines)"
      ],
      "cflags_cc!": ["-fno-rtti", "-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-frtti", "-fexceptions", "-O3", "-fvisibility=hidden", "-ffp-contract=off"],
      "ldflags": ["<!@(node scripts/find-libtorch.mjs --gyp-ldflags)"],
      "libraries": ["<!@(node scripts/find-libtorch.mjs --gyp-libs)", "-ldl"]
    }
  ]
}
