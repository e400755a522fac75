/**
 * IDX files (the MNIST / Fashion-MNIST format), raw or gzipped, and loaders built on them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants as bufferConstants } from 'node:buffer';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { ConfigError, DataError } from '../core/errors.js';
import { splitIndices, takeRows } from './split.js';
import type { LoadedDataset, TabularSplit } from './types.js';

export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

export interface IdxArray {
  dtype: IdxDtype;
  shape: number[];
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const DTYPES: Record<number, { dtype: IdxDtype; size: number }> = {
  0x08: { dtype: 'uint8', size: 1 },
  0x09: { dtype: 'int8', size: 1 },
  0x0b: { dtype: 'int16', size: 2 },
  0x0c: { dtype: 'int32', size: 4 },
  0x0d: { dtype: 'float32', size: 4 },
  0x0e: { dtype: 'float64', size: 8 },
};
const CODES: Record<IdxDtype, number> = {
  uint8: 0x08,
  int8: 0x09,
  int16: 0x0b,
  int32: 0x0c,
  float32: 0x0d,
  float64: 0x0e,
};

/** Deflate expands at most ~1032:1, so no gzip of n bytes holds more than this many decompressed bytes. */
const MAX_DEFLATE_RATIO = 1032;
/** The IDX header (≤ 1024 bytes) must come out of this many compressed bytes (in practice it is within the first 50). */
const GZIP_HEADER_WINDOW = 8192;

interface IdxHeader {
  info: { dtype: IdxDtype; size: number };
  shape: number[];
  count: number;
  headerLen: number;
  need: number;
}

/** Checks magic, dtype code and dims and computes the byte size the header declares, without touching the data. */
function readHeader(buf: Uint8Array, source: string): IdxHeader {
  if (buf.length < 4) throw new DataError(`${source}: too short to be an IDX file (${buf.length} bytes)`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw new DataError(`${source}: not an IDX file (magic bytes ${hex(buf[0]!)} ${hex(buf[1]!)}, expected 00 00)`);
  }
  const info = DTYPES[buf[2]!];
  if (!info) throw new DataError(`${source}: unknown IDX dtype code ${hex(buf[2]!)}`);
  const ndims = buf[3]!;
  const headerLen = 4 + 4 * ndims;
  if (buf.length < headerLen)
    throw new DataError(`${source}: truncated IDX header (${ndims} dims need ${headerLen} bytes, got ${buf.length})`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < ndims; i++) shape.push(view.getUint32(4 + 4 * i, false));
  // A product of up to 255 uint32 dims may exceed 2^53 (or reach Infinity); it is only compared with real byte counts.
  const count = shape.reduce((a, b) => a * b, 1);
  return { info, shape, count, headerLen, need: headerLen + count * info.size };
}

/**
 * Gunzips IDX data without trusting it: the header is inflated from a bounded prefix first, so a header declaring
 * gigabytes (or a gzip bomb) is rejected before anything of that size is allocated, and the full inflate is capped
 * at the declared size.
 */
function gunzipIdx(bytes: Uint8Array, source: string): Uint8Array {
  const corrupt = (cause: unknown): DataError =>
    new DataError(`${source}: truncated or corrupt gzip data (${(cause as Error).message})`, { cause });
  let head: Uint8Array = new Uint8Array(0);
  for (const n of [256, GZIP_HEADER_WINDOW]) {
    try {
      // Z_SYNC_FLUSH: a truncated stream yields what it has instead of an error (the prefix is truncated on purpose).
      head = gunzipSync(bytes.subarray(0, n), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    } catch (cause) {
      throw corrupt(cause);
    }
    if ((head.length >= 4 && head.length >= 4 + 4 * head[3]!) || n >= bytes.length) break;
  }
  if (head.length < 4 && bytes.length > GZIP_HEADER_WINDOW) {
    throw new DataError(`${source}: no IDX header in the first ${GZIP_HEADER_WINDOW} bytes of gzip data`);
  }
  const { shape, need } = readHeader(head, source);
  if (need > MAX_DEFLATE_RATIO * bytes.length + GZIP_HEADER_WINDOW || need > bufferConstants.MAX_LENGTH) {
    throw new DataError(
      `${source}: IDX header declares shape [${shape.join(', ')}] (${need} bytes), more than a ${bytes.length}-byte gzip file can hold`,
    );
  }
  try {
    return gunzipSync(bytes, { maxOutputLength: need });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DataError(
        `${source}: gzip data decompresses to more than the ${need} bytes its IDX header declares (trailing data)`,
        { cause },
      );
    }
    throw corrupt(cause);
  }
}

/** Parses IDX bytes (gunzipping first if they start with 1f 8b). `source` names the file in errors. */
export function parseIdx(bytes: Uint8Array, source = '<buffer>'): IdxArray {
  const buf = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipIdx(bytes, source) : bytes;
  // The declared size is compared with the real byte count before any data array is allocated.
  const { info, shape, count, headerLen, need } = readHeader(buf, source);
  if (buf.length < need) {
    throw new DataError(
      `${source}: truncated IDX data: shape [${shape.join(', ')}] needs ${need} bytes, file has ${buf.length}`,
    );
  }
  if (buf.length > need)
    throw new DataError(`${source}: ${buf.length - need} unexpected trailing bytes after IDX data`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let data: IdxArray['data'];
  switch (info.dtype) {
    case 'uint8':
      data = new Uint8Array(buf.subarray(headerLen, need));
      break;
    case 'int8':
      data = new Int8Array(buf.buffer.slice(buf.byteOffset + headerLen, buf.byteOffset + need));
      break;
    case 'int16':
      data = new Int16Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt16(headerLen + 2 * i, false);
      break;
    case 'int32':
      data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt32(headerLen + 4 * i, false);
      break;
    case 'float32':
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(headerLen + 4 * i, false);
      break;
    case 'float64':
      data = new Float64Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat64(headerLen + 8 * i, false);
      break;
  }
  return { dtype: info.dtype, shape, data };
}

const hex = (b: number): string => b.toString(16).padStart(2, '0');

/** Reads a raw or gzipped IDX file; any problem (missing, truncated, wrong magic) is a `DataError` naming the path. */
export function readIdx(path: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new DataError(
      `${path}: cannot read IDX file (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`,
      { cause },
    );
  }
  return parseIdx(bytes, path);
}

/** Encodes an IDX file (big-endian); the inverse of `parseIdx` (gzip it yourself if you want .gz). */
export function encodeIdx(arr: IdxArray): Uint8Array {
  const info = DTYPES[CODES[arr.dtype]]!;
  const count = arr.shape.reduce((a, b) => a * b, 1);
  if (arr.data.length !== count)
    throw new DataError(`data has ${arr.data.length} values, shape [${arr.shape.join(', ')}] needs ${count}`);
  const headerLen = 4 + 4 * arr.shape.length;
  const out = new Uint8Array(headerLen + count * info.size);
  const view = new DataView(out.buffer);
  out[2] = CODES[arr.dtype];
  out[3] = arr.shape.length;
  arr.shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < count; i++) {
    const v = arr.data[i]!;
    const o = headerLen + i * info.size;
    switch (arr.dtype) {
      case 'uint8':
        view.setUint8(o, v);
        break;
      case 'int8':
        view.setInt8(o, v);
        break;
      case 'int16':
        view.setInt16(o, v, false);
        break;
      case 'int32':
        view.setInt32(o, v, false);
        break;
      case 'float32':
        view.setFloat32(o, v, false);
        break;
      case 'float64':
        view.setFloat64(o, v, false);
        break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

export interface IdxDatasetFiles {
  imagesPath: string;
  labelsPath: string;
}

export interface IdxImageOptions {
  /** Keep only the first n samples. */
  limit?: number;
  /** Pixel values are divided by this before normalization (default 255). */
  scale?: number;
  /** Normalization after scaling (default: none). */
  mean?: number;
  std?: number;
}

/** Images [N, H, W] (or [N, C, H, W]) → Float32 [N, C, H, W]; labels → Int32 [N]. */
export function loadIdxSplit(files: IdxDatasetFiles, opts: IdxImageOptions = {}): TabularSplit {
  const images = readIdx(files.imagesPath);
  const labels = readIdx(files.labelsPath);
  if (images.shape.length !== 3 && images.shape.length !== 4) {
    throw new DataError(
      `${files.imagesPath}: expected images of shape [N, H, W] or [N, C, H, W], got [${images.shape.join(', ')}]`,
    );
  }
  if (labels.shape.length !== 1)
    throw new DataError(`${files.labelsPath}: expected labels of shape [N], got [${labels.shape.join(', ')}]`);
  if (labels.shape[0] !== images.shape[0]) {
    throw new DataError(
      `${files.labelsPath}: ${labels.shape[0]} labels for ${images.shape[0]} images in ${files.imagesPath}`,
    );
  }
  // Options are checked before use: a negative limit would be a RangeError from new Float32Array, a zero scale/std Inf.
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 0)) {
    throw new ConfigError(`must be a non-negative integer, got ${String(opts.limit)}`, 'limit');
  }
  for (const key of ['scale', 'std', 'mean'] as const) {
    const v = opts[key];
    if (v !== undefined && !(Number.isFinite(v) && (key === 'mean' || v !== 0))) {
      throw new ConfigError(`must be a finite${key === 'mean' ? '' : ', non-zero'} number, got ${String(v)}`, key);
    }
  }
  const sampleShape = images.shape.length === 3 ? [1, ...images.shape.slice(1)] : images.shape.slice(1);
  // Zero-size images are legal IDX but no model input can take them.
  if (images.shape[0] === 0)
    throw new DataError(`${files.imagesPath}: holds no images (shape [${images.shape.join(', ')}])`);
  if (sampleShape.some((d) => d < 1))
    throw new DataError(`${files.imagesPath}: image shape [${images.shape.join(', ')}] has a zero dimension`);
  const n = Math.min(images.shape[0]!, opts.limit ?? Infinity);
  const per = sampleShape.reduce((a, b) => a * b, 1);
  const scale = opts.scale ?? 255;
  const mean = opts.mean ?? 0;
  const std = opts.std ?? 1;
  const x = new Float32Array(n * per);
  for (let i = 0; i < n * per; i++) {
    const v = images.data[i]!;
    x[i] = (v / scale - mean) / std;
    // Float IDX files can hold NaN/Inf (or values beyond float32); they would only surface later as a NaN loss.
    if (!Number.isFinite(x[i]!)) {
      throw new DataError(
        `${files.imagesPath}: pixel value ${v} at flat index ${i} is not a finite float32 after scaling`,
      );
    }
  }
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = labels.data[i]!;
    // Above 2^31 - 1 the Int32Array store would wrap (2^32 → 0), silently relabelling the sample.
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff)
      throw new DataError(`${files.labelsPath}: label ${v} at index ${i} is not a class index`);
    y[i] = v;
  }
  return { inputs: [{ data: x, shape: [n, ...sampleShape] }], target: { data: y, shape: [n] } };
}

function classesOf(...targets: Int32Array[]): number {
  let max = -1;
  for (const t of targets) for (const v of t) if (v > max) max = v;
  return max + 1;
}

export interface LoadIdxDatasetOptions extends Omit<IdxImageOptions, 'limit'> {
  train: IdxDatasetFiles;
  test: IdxDatasetFiles;
  name?: string;
  limitTrain?: number;
  limitTest?: number;
  /** Stratified validation split carved out of train (default 0: none). */
  valFraction?: number;
  seed?: number;
  labels?: string[];
}

/** A user's own IDX image-classification data (MNIST layout). */
export function loadIdxDataset(opts: LoadIdxDatasetOptions): LoadedDataset {
  const { train: trainFiles, test: testFiles, limitTrain, limitTest, valFraction = 0, seed = 0 } = opts;
  let train = loadIdxSplit(trainFiles, { ...opts, limit: limitTrain });
  const test = loadIdxSplit(testFiles, { ...opts, limit: limitTest });
  let val: TabularSplit | undefined;
  if (valFraction > 0) {
    const { keep, held } = splitIndices(train.target.shape[0]!, valFraction, seed, train.target.data as Int32Array);
    val = takeRows(train, held);
    train = takeRows(train, keep);
  }
  const classes = Math.max(
    opts.labels?.length ?? 0,
    classesOf(train.target.data as Int32Array, test.target.data as Int32Array),
  );
  const ds: LoadedDataset = {
    name: opts.name ?? 'idx',
    task: opts.labels ? { kind: 'classification', classes, labels: opts.labels } : { kind: 'classification', classes },
    train,
    test,
  };
  if (val) ds.val = val;
  return ds;
}

export const FASHION_MNIST_LABELS = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;
export const FASHION_MNIST_MEAN = 0.286;
export const FASHION_MNIST_STD = 0.353;

export interface FashionMnistOptions {
  /** Directory with the four `*-ubyte.gz` files (default /usr/share/datasets/fashion-mnist, or $PETRA_FASHION_MNIST). */
  dir?: string;
  limitTrain?: number;
  limitTest?: number;
  valFraction?: number;
  seed?: number;
}

/** Fashion-MNIST: Float32 [N, 1, 28, 28] scaled to [0, 1] then normalized (mean 0.2860, std 0.3530); Int32 labels. */
export function loadFashionMnist(opts: FashionMnistOptions = {}): LoadedDataset {
  const dir = opts.dir ?? process.env.PETRA_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';
  const ds = loadIdxDataset({
    name: 'fashion-mnist',
    train: { imagesPath: join(dir, 'train-images-idx3-ubyte.gz'), labelsPath: join(dir, 'train-labels-idx1-ubyte.gz') },
    test: { imagesPath: join(dir, 't10k-images-idx3-ubyte.gz'), labelsPath: join(dir, 't10k-labels-idx1-ubyte.gz') },
    mean: FASHION_MNIST_MEAN,
    std: FASHION_MNIST_STD,
    labels: [...FASHION_MNIST_LABELS],
    ...(opts.limitTrain !== undefined ? { limitTrain: opts.limitTrain } : {}),
    ...(opts.limitTest !== undefined ? { limitTest: opts.limitTest } : {}),
    ...(opts.valFraction !== undefined ? { valFraction: opts.valFraction } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
  });
  return ds;
}
