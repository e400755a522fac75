/**
 * The op registry and the tables that must agree with it. The compiler already insists on one descriptor, one ONNX
 * lowering and one TorchScript lowering per `OpName`; these checks cover what it cannot see: OP_NAMES (a plain list),
 * and native/graph_module.cc's builder table — every op has a builder, and the ops whose step takes int8 inputs as
 * they are are exactly those the registry marks `quantAware` (the exports and int8-bias.ts rely on that).
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { ONNX_OPS } from '../../lib/interop/onnx-ops.js';
import { TORCHSCRIPT_OPS } from '../../lib/interop/torchscript-ops.js';
import { OPS } from '../../lib/graph/ops/index.js';
import { OP_NAMES } from '../../lib/graph/types.js';

const sorted = (names: Iterable<string>): string[] => [...names].sort();

test('OP_NAMES lists every op once, and the registry and both exporters have exactly those ops', (t) => {
  t.is(new Set(OP_NAMES).size, OP_NAMES.length);
  t.deepEqual(sorted(Object.keys(OPS)), sorted(OP_NAMES));
  t.deepEqual(sorted(Object.keys(ONNX_OPS)), sorted(OP_NAMES));
  t.deepEqual(sorted(Object.keys(TORCHSCRIPT_OPS)), sorted(OP_NAMES));
});

test("native/graph_module.cc's builder table has one row per op and the registry's int8 rule", (t) => {
  const source = readFileSync(new URL('../../native/graph_module.cc', import.meta.url), 'utf8');
  // Rows read `{"relu", {Relu, kInt8}},`.
  const rows = [...source.matchAll(/^\s*\{"(\w+)", \{(\w+), (kInt8|kFloat)\}\},/gm)].map((m) => ({
    op: m[1]!,
    int8: m[3] === 'kInt8',
  }));
  t.deepEqual(sorted(rows.map((r) => r.op)), sorted(OP_NAMES));
  const quantAware = OP_NAMES.filter((op) => OPS[op].quantAware !== undefined);
  t.deepEqual(sorted(rows.filter((r) => r.int8).map((r) => r.op)), sorted(quantAware));
});
