import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { info, setThreads } from '../../lib/runtime/info.js';
import { ConfigError } from '../../lib/core/errors.js';

test('the addon loads and info() describes LibTorch', (t) => {
  const i = info();
  t.regex(i.libtorchVersion, /^\d+\.\d+/);
  t.is(i.napiVersion, 8);
  t.true(i.threads.intraOp >= 1);
  t.true(i.quantizedEngines.length > 0, 'at least one quantized engine');
  t.is(typeof i.cuda.available, 'boolean');
  t.true(Array.isArray(i.cuda.devices));
  t.is(i.openblasThreads, '1', 'the loader keeps OpenBLAS from oversubscribing');
  t.regex(i.addonPath, /petra\.node$/);
});

test('default threads are the available cores and setThreads changes them', (t) => {
  const before = info().threads.intraOp;
  t.true(before >= 1);
  setThreads(1);
  t.is(info().threads.intraOp, 1);
  setThreads(before);
  t.is(info().threads.intraOp, before);
  t.throws(() => setThreads(0), { instanceOf: ConfigError });
});

test('LibTorch discovery reports where it found LibTorch', (t) => {
  const found = JSON.parse(execFileSync(process.execPath, ['scripts/find-libtorch.mjs', '--json']).toString()) as {
    torchDir: string;
    includeDirs: string[];
  };
  t.truthy(found.torchDir);
  t.true(found.includeDirs.length >= 2);
});

test('with addons disabled, the loader fails with one message listing every attempt and its fix', (t) => {
  const r = spawnSync(
    process.execPath,
    [
      '--no-addons',
      '--import=tsx',
      '-e',
      "import('./lib/runtime/info.ts').then(m => m.info()).catch(e => { console.log(e.name + '|' + e.code + '|' + e.message); })",
    ],
    { encoding: 'utf8' },
  );
  t.regex(r.stdout, /^LoadError\|ERR_PETRA_LOAD\|/);
  t.regex(r.stdout, /build\/Release\/petra\.node/);
  t.regex(r.stdout, /prebuilds\/linux-/);
  t.regex(r.stdout, /no-addons/);
});
