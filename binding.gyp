{
  "targets": [
    {
      "target_name": "petra",
      "sources": ["<!@(node scripts/native-sources.mjs)"],
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
      "cflags_cc": ["-std=c++17", "-frtti", "-fexceptions", "-O3", "-fvisibility=hidden", "-ffp-contract=off", "-fopenmp"],
      "ldflags": ["<!@(node scripts/find-libtorch.mjs --gyp-ldflags)"],
      "libraries": ["<!@(node scripts/find-libtorch.mjs --gyp-libs)", "-ldl"]
    }
  ]
}
