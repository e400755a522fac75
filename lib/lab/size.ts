import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Model } from '../runtime/model.js';

export interface ModelSize {
  parameters: number;
  parameterBytes: number;
  bufferBytes: number;
  /** Bytes of parameters and buffers by dtype name (e.g. Float, QInt8). */
  bytesByDtype: Record<string, number>;
  /** Size of the file `save()` writes. */
  fileBytes: number;
}

/** What a model weighs: in memory by dtype, and on disk as petra saves it. */
export async function modelSize(model: Model): Promise<ModelSize> {
  const bytesByDtype: Record<string, number> = {};
  let parameterBytes = 0;
  let bufferBytes = 0;
  for (const p of model.parameters()) {
    bytesByDtype[p.dtype] = (bytesByDtype[p.dtype] ?? 0) + p.bytes;
    if (p.buffer) bufferBytes += p.bytes;
    else parameterBytes += p.bytes;
  }
  const dir = mkdtempSync(join(tmpdir(), 'petra-size-'));
  try {
    const file = join(dir, 'model.pt');
    await model.save(file);
    return {
      parameters: model.parameterCount,
      parameterBytes,
      bufferBytes,
      bytesByDtype,
      fileBytes: statSync(file).size,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
