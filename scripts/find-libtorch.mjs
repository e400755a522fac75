#!/usr/bin/env node
// Finds a LibTorch to build against, in this order, and never downloads anything:
//   1. LIBTORCH (a LibTorch root) / Torch_DIR (the folder holding TorchConfig.cmake) / CMAKE_PREFIX_PATH
//   2. python3's torch (`torch.utils.cmake_prefix_path`): how the GPU machines provide a CUDA LibTorch
//   3. the system: Debian/Ubuntu's libtorch-dev, /usr/local
// Usage: find-libtorch.mjs [--json | --torch-dir | --gyp-include | --gyp-libs | --gyp-ldflags | --gyp-defines]
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const CONFIG = 'TorchConfig.cmake';

function configDirUnder(prefix) {
  for (const sub of ['', 'Torch', 'share/cmake/Torch', 'lib/cmake/Torch', 'torch/share/cmake/Torch']) {
    const dir = join(prefix, sub);
    if (existsSync(join(dir, CONFIG))) return resolve(dir);
  }
  return undefined;
}

function pythonTorch(python) {
  try {
    const out = execFileSync(
      python,
      [
        '-c',
        'import torch,json,os;print(json.dumps({"prefix":torch.utils.cmake_prefix_path,"root":os.path.dirname(torch.__file__),' +
          '"version":torch.__version__,"cuda":torch.version.cuda,"abi":int(torch._C._GLIBCXX_USE_CXX11_ABI)}))',
      ],
      { stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 },
    )
      .toString()
      .trim()
      .split('\n')
      .pop();
    return JSON.parse(out);
  } catch {
    return undefined;
  }
}

function multiarchLibDirs() {
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];
  return dirs.filter((d) => existsSync(d));
}

/** @returns {{source: string, torchDir: string, root: string, includeDirs: string[], libDir: string, cuda: boolean, abi: number, attempts: string[]}|{attempts: string[]}} */
export function findLibTorch(env = process.env) {
  const attempts = [];
  const found = (source, torchDir, extra = {}) => describe(source, torchDir, extra, attempts);
  if (env.LIBTORCH) {
    const dir = configDirUnder(env.LIBTORCH);
    if (dir) return found('LIBTORCH', dir);
    attempts.push(`LIBTORCH=${env.LIBTORCH}: no ${CONFIG} under it`);
  }
  if (env.Torch_DIR) {
    const dir = configDirUnder(env.Torch_DIR);
    if (dir) return found('Torch_DIR', dir);
    attempts.push(`Torch_DIR=${env.Torch_DIR}: no ${CONFIG} there`);
  }
  for (const prefix of (env.CMAKE_PREFIX_PATH ?? '').split(':').filter(Boolean)) {
    const dir = configDirUnder(prefix);
    if (dir) return found('CMAKE_PREFIX_PATH', dir);
    attempts.push(`CMAKE_PREFIX_PATH entry ${prefix}: no ${CONFIG}`);
  }
  for (const python of [env.PYTHON || 'python3', '/usr/bin/python3']) {
    const torch = pythonTorch(python);
    if (!torch) {
      attempts.push(`${python}: no importable torch`);
      continue;
    }
    const dir = configDirUnder(torch.prefix);
    if (dir)
      return found(`${python} torch ${torch.version}`, dir, {
        root: torch.root,
        cuda: Boolean(torch.cuda),
        abi: torch.abi,
      });
    attempts.push(`${python} torch ${torch.version}: no ${CONFIG} under ${torch.prefix}`);
  }
  for (const lib of multiarchLibDirs()) {
    const dir = configDirUnder(join(lib, 'cmake'));
    if (dir) return found('system', dir);
  }
  attempts.push('system: no libtorch-dev (looked for cmake/Torch/TorchConfig.cmake under /usr/lib/*, /usr/local/lib)');
  return { attempts };
}

function describe(source, torchDir, extra, attempts) {
  // share/cmake/Torch (pip wheels, LibTorch zips) or lib/<arch>/cmake/Torch (Debian).
  let root = extra.root ?? resolve(torchDir, '../../..');
  if (!existsSync(join(root, 'include/torch'))) root = existsSync('/usr/include/torch') ? '/usr' : root;
  const includeDirs = [join(root, 'include'), join(root, 'include/torch/csrc/api/include')];
  let libDir = join(root, 'lib');
  if (!existsSync(libDir) || !readdirSync(libDir).some((f) => f.startsWith('libtorch_cpu'))) {
    libDir = multiarchLibDirs().find((d) => readdirSync(d).some((f) => f.startsWith('libtorch_cpu'))) ?? libDir;
  }
  const libs = existsSync(libDir) ? readdirSync(libDir) : [];
  const cuda = extra.cuda ?? libs.some((f) => f.startsWith('libtorch_cuda'));
  return { source, torchDir, root, includeDirs, libDir, cuda, abi: extra.abi ?? 1, attempts };
}

const isMain = process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname);
if (isMain) {
  const mode = process.argv[2] ?? '--json';
  const t = findLibTorch();
  if (!('torchDir' in t)) {
    if (mode === '--json') console.log(JSON.stringify(t, null, 2));
    else console.error(`petra: LibTorch not found:\n  ${t.attempts.join('\n  ')}`);
    process.exit(1);
  }
  const libs = ['torch', 'torch_cpu', 'c10', ...(t.cuda ? ['torch_cuda', 'c10_cuda'] : [])];
  switch (mode) {
    case '--json':
      console.log(JSON.stringify(t, null, 2));
      break;
    case '--torch-dir':
      console.log(t.torchDir);
      break;
    case '--gyp-include':
      console.log(t.includeDirs.join(' '));
      break;
    case '--gyp-libs':
      console.log(libs.map((l) => `-l${l}`).join(' '));
      break;
    case '--gyp-ldflags':
      console.log(`-L${t.libDir} -Wl,-rpath,${t.libDir} -Wl,--no-as-needed`);
      break;
    case '--gyp-defines':
      console.log([`_GLIBCXX_USE_CXX11_ABI=${t.abi}`, ...(t.cuda ? ['PETRA_WITH_CUDA=1'] : [])].join(' '));
      break;
    default:
      console.error(`unknown option ${mode}`);
      process.exit(2);
  }
}
