#!/usr/bin/env node
// The picture in docs/architecture.md, drawn from lib/'s own imports: which folder of lib/ imports which (a subfolder
// counts as its folder; lib/*.ts as "entry files"), as a Mermaid flowchart GitHub renders. An arrow that a longer path
// of arrows already implies is left out, so each arrow shows a layer's direct neighbours below it.
//   node scripts/architecture.mjs           prints the diagram
//   node scripts/architecture.mjs --write   puts it into docs/architecture.md (between the architecture markers)
//   node scripts/architecture.mjs --check   fails when docs/architecture.md's diagram differs (test/docs/architecture.test.ts)
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const lib = join(root, 'lib');
const DOC = join(root, 'docs', 'architecture.md');
const BEGIN = '<!-- architecture:begin (scripts/architecture.mjs --write) -->';
const END = '<!-- architecture:end -->';
const ENTRY = 'entry';

function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const folderOf = (file) => {
  const parts = relative(lib, file).split(/[\\/]/);
  return parts.length === 1 ? ENTRY : parts[0];
};

/** folder → the folders its files import (relative imports, type-only ones included). */
export function folderImports() {
  const edges = new Map();
  for (const file of sources(lib)) {
    const from = folderOf(file);
    if (!edges.has(from)) edges.set(from, new Set());
    for (const { fileName } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = resolve(dirname(file), fileName);
      if (relative(lib, target).startsWith('..')) continue;
      const to = folderOf(target);
      if (to !== from) edges.get(from).add(to);
    }
  }
  return edges;
}

/** The edges no longer path implies (the graph has no cycle: npm run lint:deps checks that). */
function reduce(edges) {
  const reach = (from, skip) => {
    const seen = new Set();
    const stack = [...edges.get(from)].filter((n) => n !== skip);
    while (stack.length) {
      const n = stack.pop();
      if (seen.has(n)) continue;
      seen.add(n);
      stack.push(...(edges.get(n) ?? []));
    }
    return seen;
  };
  const out = new Map();
  for (const [from, tos] of edges) out.set(from, new Set([...tos].filter((to) => !reach(from, to).has(to))));
  return out;
}

/** Folders from the top layer down: each after every folder that imports it, ties by name. */
function order(edges) {
  const nodes = [...new Set([...edges.keys(), ...[...edges.values()].flatMap((s) => [...s])])].sort();
  const depth = new Map();
  const height = (n) => {
    if (!depth.has(n)) depth.set(n, Math.max(0, ...[...(edges.get(n) ?? [])].map((m) => height(m) + 1)));
    return depth.get(n);
  };
  return nodes.sort((a, b) => height(b) - height(a) || a.localeCompare(b));
}

export function diagram() {
  const edges = reduce(folderImports());
  const lines = ['```mermaid', 'flowchart TD'];
  for (const n of order(edges)) lines.push(`  ${n}["${n === ENTRY ? 'lib/*.ts' : `${n}/`}"]`);
  for (const from of order(edges)) {
    for (const to of order(edges).filter((t) => edges.get(from)?.has(t))) lines.push(`  ${from} --> ${to}`);
  }
  lines.push('```');
  return lines.join('\n');
}

function docParts() {
  const text = readFileSync(DOC, 'utf8');
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${DOC} lacks the markers ${BEGIN} … ${END}`);
  return {
    before: text.slice(0, a + BEGIN.length),
    current: text.slice(a + BEGIN.length, b).trim(),
    after: text.slice(b),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const mode = process.argv[2];
  const fresh = diagram();
  if (mode === '--write') {
    const { before, after } = docParts();
    writeFileSync(DOC, `${before}\n${fresh}\n${after}`);
  } else if (mode === '--check') {
    if (docParts().current !== fresh) {
      console.error(
        `docs/architecture.md's diagram is not what lib/'s imports give; run node scripts/architecture.mjs --write.\nExpected:\n${fresh}`,
      );
      process.exit(1);
    }
  } else {
    console.log(fresh);
  }
}
