// Every error code keeps its class across a boundary: serializeError → structured clone (a worker_thread message) or
// JSON (a queue job, the CLI) → reviveError, through the one mapping errorFromCode.
import test from 'ava';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import {
  AbortError,
  ConfigError,
  DataError,
  DeviceError,
  DisposedError,
  DtypeError,
  errorFromCode,
  LoadError,
  NumericError,
  PetraError,
  errorText,
  parseErrorText,
  reviveError,
  serializeError,
  ShapeError,
  type PetraErrorCode,
  type SerializedError,
} from '../../lib/core/errors.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPetra } from '../e2e/helpers/procs.js';

const CASES: [PetraErrorCode, PetraError, abstract new (...args: never[]) => PetraError][] = [
  ['ERR_PETRA_CONFIG', new ConfigError('must be positive', 'nodes[2].attrs.kernelSize'), ConfigError],
  ['ERR_PETRA_DATA', new DataError('truncated file'), DataError],
  ['ERR_PETRA_SHAPE', new ShapeError('expected [N, 3]'), ShapeError],
  ['ERR_PETRA_DTYPE', new DtypeError('expected float32'), DtypeError],
  ['ERR_PETRA_DEVICE', new DeviceError('cuda:3 is not available'), DeviceError],
  ['ERR_PETRA_NUMERIC', new NumericError('loss is NaN'), NumericError],
  ['ERR_PETRA_ABORTED', new AbortError('stopped'), AbortError],
  ['ERR_PETRA_DISPOSED', new DisposedError('model'), DisposedError],
  ['ERR_PETRA_LOAD', new LoadError('no addon'), LoadError],
  ['ERR_PETRA_NATIVE', new PetraError('c10 error'), PetraError],
];

/** Through a MessageChannel, as a worker_thread's postMessage sends it. */
function structuredRoundTrip<T>(value: T): T {
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(value);
  const got = receiveMessageOnPort(port2)!.message as T;
  port1.close();
  return got;
}

for (const [code, error, Class] of CASES) {
  test(`${code}: ${Class.name} survives a worker message and JSON, with its message${code === 'ERR_PETRA_CONFIG' ? ' and path' : ''}`, (t) => {
    t.is(error.code, code);
    for (const [how, revived] of [
      ['worker message', reviveError(structuredRoundTrip(serializeError(error)))],
      ['JSON', reviveError(JSON.parse(JSON.stringify(serializeError(error))))],
      ['errorFromCode', errorFromCode(code, serializeError(error).message, (error as { path?: string }).path)],
    ] as const) {
      t.true(revived instanceof Class, `${how}: ${revived.constructor.name}`);
      t.is(revived.constructor, error.constructor, how);
      t.is(revived.message, error.message, how);
      t.is(revived.name, error.name, how);
      t.is((revived as PetraError).code, code, how);
      if (error instanceof ConfigError) t.is((revived as ConfigError).path, error.path, how);
    }
  });
}

test('a non-petra error comes back as an Error with its name; a thrown string as an Error', (t) => {
  const revived = reviveError(structuredRoundTrip(serializeError(new RangeError('too far'))));
  t.is(revived.name, 'RangeError');
  t.is(revived.message, 'too far');
  t.false(revived instanceof PetraError);
  t.is(reviveError(serializeError('plain')).message, 'plain');
});

// A BullMQ job's failure reason is a string: the worker throws errorText(error), the coordinator reads it back.
for (const [code, error, Class] of CASES) {
  test(`${code}: ${Class.name} survives a job's failure reason (errorText → parseErrorText → reviveError)`, (t) => {
    const revived = reviveError(parseErrorText(errorText(error)));
    t.true(revived instanceof Class, revived.constructor.name);
    t.is(revived.message, error.message);
    t.is((revived as PetraError).code, code);
  });
}

test('a failure reason BullMQ wrote itself comes back as a plain Error with that message', (t) => {
  for (const text of ['job stalled more than allowable limit', '{"not":"an error"}', '']) {
    const e = parseErrorText(text);
    t.deepEqual(e, { name: 'Error', message: text });
  }
});

test("the CLI with --json prints a failing command's error as one JSON line that revives to its class", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'petra-cli-error-'));
  const bad = join(dir, 'Broken_TRAIN.ts');
  // Rows of different lengths in a univariate set: a DataError when the search loads it.
  for (const split of ['TRAIN', 'TEST'])
    writeFileSync(
      join(dir, `Broken_${split}.ts`),
      '@problemName Broken\n@timeStamps false\n@univariate true\n@classLabel true a b\n@data\n1,2,3:a\n1,2:b\n',
    );
  for (const [args, Class] of [
    [['export', 'nosuch', 'best', '--json', '--study-dir', dir], ConfigError],
    [['search', '--data', bad, '--budget', '1evals', '--json', '--study-dir', dir, '--no-report'], DataError],
  ] as const) {
    const r = await runPetra(dir, [...args]);
    t.is(r.status, 1, r.stderr);
    const line = JSON.parse(r.stdout.trim().split('\n').pop()!) as { event: string; error: SerializedError };
    t.is(line.event, 'error');
    const revived = reviveError(line.error);
    t.true(revived instanceof Class, `${args[0]}: ${revived.constructor.name}: ${revived.message}`);
    t.true(r.stderr.includes(`petra: ${Class.name}`));
  }
});
