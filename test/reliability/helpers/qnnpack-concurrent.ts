// Child process of qnnpack.test.ts: concurrent forwards of QNNPACK int8 models (petra's and their TorchScript
// exports). Before QnnpackMutex this hung on the first round; it must print "done" and exit.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quantize } from '../../../lib/compress/quantize.js';
import { saveTorchScript } from '../../../lib/interop/torchscript-export.js';
import { TorchScriptModel } from '../../../lib/lab/benchmark.js';
import { FAMILIES, trainedModel } from '../../interop/helpers.js';

const f = FAMILIES[1]!;
const model = await trainedModel(f);
const calibration = { data: f.data(256, 3), batches: 4, batchSize: 64 };
const a = (await quantize(model, { mode: 'static', backend: 'qnnpack', calibration })).model;
const b = (await quantize(model, { mode: 'static', backend: 'qnnpack', perChannel: false, calibration })).model;
const file = join(mkdtempSync(join(tmpdir(), 'petra-qnnpack-')), 'b.pt');
await saveTorchScript(b, file);
const script = TorchScriptModel.load(file);
const x = f.data(256, 7).inputs;
for (let round = 0; round < 30; round++) {
  // Three petra forwards at once: one on the compute thread, two on short-lived threads; and a TorchScript forward
  // on the JS thread while they run.
  const pending = Promise.all([a.forward(x), b.forward(x), a.forward(x)]);
  script.native.forward(x);
  await pending;
}
console.log('done');
