/**
 * One error family for everything petra throws. Native errors arrive with a `code` and are turned into
 * these classes by the binding's error factory (native/errors.cc calls it), so callers can `instanceof`.
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
  constructor(message: string, options?: { cause?: unknown }) { super(message, 'ERR_PETRA_DATA', options); }
}
export class ShapeError extends PetraError {
  constructor(message: string, options?: { cause?: unknown }) { super(message, 'ERR_PETRA_SHAPE', options); }
}
export class DtypeError extends PetraError {
  constructor(message: string, options?: { cause?: unknown }) { super(message, 'ERR_PETRA_DTYPE', options); }
}
export class DeviceError extends PetraError {
  constructor(message: string, options?: { cause?: unknown }) { super(message, 'ERR_PETRA_DEVICE', options); }
}
/** NaN/Inf loss or objective. */
export class NumericError extends PetraError {
  constructor(message: string, options?: { cause?: unknown }) { super(message, 'ERR_PETRA_NUMERIC', options); }
}
export class AbortError extends PetraError {
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) { super(message, 'ERR_PETRA_ABORTED', options); }
}
export class DisposedError extends PetraError {
  constructor(what: string) { super(`${what} was disposed and can no longer be used`, 'ERR_PETRA_DISPOSED'); }
}
/** The native addon could not be loaded; the message lists every attempt. */
export class LoadError extends PetraError {
  constructor(message: string, options?: { cause?: unknown }) { super(message, 'ERR_PETRA_LOAD', options); }
}

/** Builds the right subclass for a native error code (used by the binding's error factory). */
export function errorFromCode(code: string, message: string): PetraError {
  switch (code) {
    case 'ERR_PETRA_CONFIG': return new ConfigError(message);
    case 'ERR_PETRA_DATA': return new DataError(message);
    case 'ERR_PETRA_SHAPE': return new ShapeError(message);
    case 'ERR_PETRA_DTYPE': return new DtypeError(message);
    case 'ERR_PETRA_DEVICE': return new DeviceError(message);
    case 'ERR_PETRA_NUMERIC': return new NumericError(message);
    case 'ERR_PETRA_ABORTED': return new AbortError(message);
    case 'ERR_PETRA_DISPOSED': return new PetraError(message, 'ERR_PETRA_DISPOSED');
    default: return new PetraError(message, 'ERR_PETRA_NATIVE');
  }
}
