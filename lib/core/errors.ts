/**
 * One error family for everything petra throws. Native errors arrive with a `code` and are turned into
 * these classes by the binding's error factory (lib/runtime/binding.ts installs it; native/common.cc's MakeError
 * calls it), so callers can `instanceof`.
 */

export type PetraErrorCode =
  | 'ERR_PETRA_CONFIG'
  | 'ERR_PETRA_DATA'
  | 'ERR_PETRA_SHAPE'
  | 'ERR_PETRA_DTYPE'
  | 'ERR_PETRA_DEVICE'
  | 'ERR_PETRA_NUMERIC'
  | 'ERR_PETRA_ABORTED'
  | 'ERR_PETRA_DISPOSED'
  | 'ERR_PETRA_LOAD'
  | 'ERR_PETRA_NATIVE';

export class PetraError extends Error {
  readonly code: PetraErrorCode;
  constructor(message: string, code: PetraErrorCode = 'ERR_PETRA_NATIVE', options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A bad option, spec, genome or search configuration. `path` names the offending place, e.g. `nodes[3].attrs.kernelSize`. */
export class ConfigError extends PetraError {
  readonly path: string | undefined;
  constructor(message: string, path?: string, options?: { cause?: unknown }) {
    super(path ? `${path}: ${message}` : message, 'ERR_PETRA_CONFIG', options);
    this.path = path;
  }
}
/** A data file that cannot be read or parsed, or data that does not fit the task. */
export class DataError extends PetraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_PETRA_DATA', options);
  }
}
export class ShapeError extends PetraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_PETRA_SHAPE', options);
  }
}
export class DtypeError extends PetraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_PETRA_DTYPE', options);
  }
}
export class DeviceError extends PetraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_PETRA_DEVICE', options);
  }
}
/** NaN/Inf loss or objective. */
export class NumericError extends PetraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_PETRA_NUMERIC', options);
  }
}
export class AbortError extends PetraError {
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, 'ERR_PETRA_ABORTED', options);
  }
}
export class DisposedError extends PetraError {
  /** `what` names the disposed object; with `{ message: true }` (@internal: errorFromCode) it is the whole message. */
  constructor(what: string, options?: { message?: boolean }) {
    super(options?.message ? what : `${what} was disposed and can no longer be used`, 'ERR_PETRA_DISPOSED');
  }
}
/** The native addon could not be loaded; the message lists every attempt. */
export class LoadError extends PetraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_PETRA_LOAD', options);
  }
}

/** A PetraError as plain data, to cross a boundary (worker thread, job queue, JSON): `reviveError` rebuilds the class. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  path?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const path = (error as { path?: unknown }).path;
  return {
    name: error.name,
    // A ConfigError's message starts with its path; send it without, so the revived one does not say it twice.
    message:
      error instanceof ConfigError && error.path && error.message.startsWith(`${error.path}: `)
        ? error.message.slice(error.path.length + 2)
        : error.message,
    ...(error instanceof PetraError ? { code: error.code } : {}),
    ...(typeof path === 'string' ? { path } : {}),
  };
}

/**
 * The one mapping from an error code to its class: native errors (the binding's error factory), errors revived after
 * a boundary, and wrapped stage errors all go through it, so every code keeps its class everywhere.
 */
export function errorFromCode(code: string, message: string, path?: string): PetraError {
  switch (code as PetraErrorCode) {
    case 'ERR_PETRA_CONFIG':
      return new ConfigError(message, path);
    case 'ERR_PETRA_DATA':
      return new DataError(message);
    case 'ERR_PETRA_SHAPE':
      return new ShapeError(message);
    case 'ERR_PETRA_DTYPE':
      return new DtypeError(message);
    case 'ERR_PETRA_DEVICE':
      return new DeviceError(message);
    case 'ERR_PETRA_NUMERIC':
      return new NumericError(message);
    case 'ERR_PETRA_ABORTED':
      return new AbortError(message);
    case 'ERR_PETRA_DISPOSED':
      return new DisposedError(message, { message: true });
    case 'ERR_PETRA_LOAD':
      return new LoadError(message);
    default:
      return new PetraError(message, 'ERR_PETRA_NATIVE');
  }
}

/**
 * A serialized error as one line of text, for channels that carry only a string: a BullMQ job's failure reason, which
 * the coordinator reads back with parseErrorText (so a worker's ShapeError is recorded as a ShapeError).
 */
export function errorText(error: unknown): string {
  return JSON.stringify(serializeError(error));
}

/** What errorText wrote; any other text (a reason BullMQ wrote itself, e.g. a stalled job) as a plain Error's. */
export function parseErrorText(text: string): SerializedError {
  try {
    const e = JSON.parse(text) as Partial<SerializedError> | null;
    if (e && typeof e.name === 'string' && typeof e.message === 'string') {
      return {
        name: e.name,
        message: e.message,
        ...(typeof e.code === 'string' ? { code: e.code } : {}),
        ...(typeof e.path === 'string' ? { path: e.path } : {}),
      };
    }
  } catch {
    // not errorText's
  }
  return { name: 'Error', message: text };
}

/** Rebuilds what serializeError wrote: the PetraError subclass for its code, else a plain Error with its name. */
export function reviveError(e: SerializedError): Error {
  if (e.code?.startsWith('ERR_PETRA')) return errorFromCode(e.code, e.message, e.path);
  return Object.assign(new Error(e.message), { name: e.name });
}
