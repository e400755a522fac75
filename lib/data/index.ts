export * from './types.js';
export * from './split.js';
export * from './idx.js';
export { parseTs, readTs, loadUcr } from './ucr.js';
export type { TsHeader, ParsedTs, ParseTsOptions, LoadUcrOptions, UcrNormalize } from './ucr.js';
export * from './csv.js';
export * from './synthetic.js';
