// Every error code keeps its class across a boundary: serializeError → structured clone (a worker_thread message) or
// JSON (a queue job, the CLI) → reviveError, through the one mapping errorFromCode.
import test from 'ava';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import {
  AbortError, ConfigError, DataError, DeviceError, DisposedError, DtypeError, errorFromCode, LoadError, NumericError, PetraError,
  reviveError, serializeError, ShapeError, type PetraErrorCode,
} from '../../lib/errors.js';

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
