/**
 * One binary loader with one actionable error (sharp's model): try each candidate in order and, when all
 * fail, say for each what went wrong and how to fix it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoadError } from '../core/errors.js';

/** The package root: lib/runtime/ runs from source (tsx) or from dist/lib/runtime/ (compiled). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'petra') return dir;
      } catch {
        /* keep walking */
      }
    }
    dir = dirname(dir);
  }
  throw new LoadError("cannot find petra's package.json above " + fileURLToPath(import.meta.url));
}

export interface LoadAttempt {
  path: string;
  error: string;
  hint: string;
}

function candidates(root: string): string[] {
  const list: string[] = [];
  if (process.env.PETRA_NATIVE) list.push(process.env.PETRA_NATIVE);
  list.push(join(root, 'build', 'Release', 'petra.node'), join(root, 'build', 'Debug', 'petra.node'));
  const prebuilt = join(root, 'prebuilds', `${platform()}-${arch()}`);
  if (existsSync(prebuilt)) {
    for (const f of readdirSync(prebuilt)
      .filter((f) => f.endsWith('.node'))
      .sort())
      list.push(join(prebuilt, f));
  } else {
    list.push(join(prebuilt, 'petra.node'));
  }
  return list;
}

function hintFor(message: string): string {
  if (/libtorch|libc10|libtorch_cpu/.test(message) && /cannot open shared object|not found/i.test(message)) {
    return (
      "LibTorch's shared libraries are not on this machine: apt-get install libtorch-dev libopenblas0-pthread (Debian/Ubuntu), " +
      'or set LD_LIBRARY_PATH to the LibTorch the addon was built against'
    );
  }
  if (/GLIBCXX|CXXABI|undefined symbol/.test(message)) {
    return (
      'the addon was built against another LibTorch or C++ runtime: rebuild it here with `npm rebuild petra` ' +
      '(node scripts/find-libtorch.mjs shows which LibTorch is found)'
    );
  }
  if (/ERR_DLOPEN_DISABLED|--no-addons/.test(message)) return 'Node runs with --no-addons: native addons are disabled';
  if (/Cannot find module|ENOENT/.test(message))
    return 'not built: run `npm rebuild petra` (or `npm run build:native` in a checkout)';
  return 'rebuild with `npm rebuild petra`; if it persists, report this message';
}

export function loadAddon<T>(): { addon: T; path: string } {
  // OpenBLAS starts its own thread pool on top of LibTorch's: on small machines that oversubscribes the cores
  // (a CNN step 10.6 ms instead of 7.3 ms on 2 cores). It reads this variable once, when it is loaded. fp32 Linear
  // layers still use every LibTorch thread in inference: each OpenMP thread runs the one-threaded BLAS on a slice of
  // the output (native/inference_linear.h).
  process.env.OPENBLAS_NUM_THREADS ??= '1';
  const root = packageRoot();
  const require = createRequire(import.meta.url);
  const attempts: LoadAttempt[] = [];
  for (const path of candidates(root)) {
    if (!existsSync(path)) {
      attempts.push({ path, error: 'no such file', hint: hintFor('ENOENT') });
      continue;
    }
    try {
      return { addon: require(path) as T, path };
    } catch (error) {
      const message =
        error instanceof Error
          ? `${(error as NodeJS.ErrnoException).code ?? ''} ${error.message}`.trim()
          : String(error);
      attempts.push({ path, error: message, hint: hintFor(message) });
    }
  }
  const lines = attempts.map((a) => `  - ${a.path}: ${a.error}\n    fix: ${a.hint}`);
  throw new LoadError(
    `petra's native addon could not be loaded (${platform()}-${arch()}, Node ${process.version}). Tried:\n${lines.join('\n')}`,
  );
}
