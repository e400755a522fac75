#!/usr/bin/env node
// `npm install` step: build the addon against a LibTorch that is already on the machine.
// Nothing is downloaded. On Debian/Ubuntu as root, a missing LibTorch is installed with apt (saying so);
// PETRA_NO_APT=1 turns that off. PETRA_SKIP_BUILD=1 skips the build (e.g. when prebuilds are shipped).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, platform, arch } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findLibTorch } from './find-libtorch.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const force = process.argv.includes('--force');
const say = (msg) => console.error(`petra: ${msg}`);

if (process.env.PETRA_SKIP_BUILD === '1') {
  say('PETRA_SKIP_BUILD=1: not building the native addon');
  process.exit(0);
}
const prebuilt = join(root, 'prebuilds', `${platform()}-${arch()}`);
if (!force && existsSync(prebuilt) && readdirSync(prebuilt).some((f) => f.endsWith('.node'))) {
  say(`using the prebuilt addon in ${prebuilt}`);
  process.exit(0);
}

let torch = findLibTorch();
if (!('torchDir' in torch)) {
  const debian = existsSync('/etc/debian_version');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (debian && isRoot && process.env.PETRA_NO_APT !== '1') {
    say(
      "LibTorch not found; installing Debian's libtorch-dev and libopenblas0-pthread with apt-get (PETRA_NO_APT=1 turns this off)",
    );
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-q', 'libtorch-dev', 'libopenblas0-pthread'], { stdio: 'inherit', env });
    torch = findLibTorch();
  }
}
if (!('torchDir' in torch)) {
  say(
    `cannot build: no LibTorch found.\n  ${torch.attempts.join('\n  ')}\n` +
      'Install one of:\n' +
      '  Debian/Ubuntu:  sudo apt-get install libtorch-dev libopenblas0-pthread\n' +
      '  any Linux:      pip install torch   (python3 must then import it)\n' +
      'or point LIBTORCH (a LibTorch root) or Torch_DIR (the folder with TorchConfig.cmake) at one, then run `npm rebuild petra`.',
  );
  process.exit(1);
}
say(`building against LibTorch from ${torch.source} (${torch.torchDir}${torch.cuda ? ', CUDA' : ''})`);

const require = createRequire(import.meta.url);
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const args = [cmakeJs, force ? 'rebuild' : 'build', '--directory', root, `--CDTorch_DIR=${torch.torchDir}`];
if (spawnSync('ninja', ['--version'], { stdio: 'ignore' }).status === 0) args.push('--generator', 'Ninja');
const result = spawnSync(process.execPath, args, {
  stdio: 'inherit',
  env: { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: String(Math.max(1, availableParallelism())) },
});
if (result.status !== 0) {
  say('the native build failed (see above). `node scripts/find-libtorch.mjs` shows which LibTorch was used.');
  process.exit(result.status ?? 1);
}
