/**
 * petra's import rules, checked by `npm run lint:deps` (dependency-cruiser) in .ci/run, and drawn in
 * docs/architecture.md. lib/ is layered: a folder imports only from folders in layers below it (and from itself).
 * Low to high:
 *
 *   core        the error family (PetraError and its subclasses)
 *   graph       the graph language: spec types, op registry, validation, model builders (pure TS)
 *   data        loaders and splits (IDX, UCR/UEA, CSV, synthetic)
 *   runtime     the addon loader, the typed binding, info, Model, DeviceData, the training loop
 *   compress    pruning, low-rank, int8 recipes        lab   timing, size, comparison
 *   interop     ONNX / TorchScript export and TorchScript import
 *   tasks       built-in tasks (data + model + training defaults)
 *   search      the generic search core (spaces, NSGA-II/SPEA2, schedules, storage)
 *   genome      the pipeline genome and its search space
 *   pipeline    what a candidate is and how it is evaluated (config, objectives, executor, study file)
 *   distributed the BullMQ coordinator and worker
 *   run         the orchestrator: one search or resume, in-process or in a worker_thread
 *   report      HTML / SVG / table reports of a study
 *   api         the programmatic search (search, resumeSearch, readStudy)
 *   commands    one file per CLI command
 *   lib/*.ts    the entry points: index.ts (the package), search-api.ts, cli.ts
 *
 * compress and lab share a layer and may not import each other. Type-only imports count like any other: a type
 * names the module that owns it. No exceptions today; one added later is written here with its reason.
 */
const LAYERS = [
  ['core'],
  ['graph'],
  ['data'],
  ['runtime'],
  ['compress', 'lab'],
  ['interop'],
  ['tasks'],
  ['search'],
  ['genome'],
  ['pipeline'],
  ['distributed'],
  ['run'],
  ['report'],
  ['api'],
  ['commands'],
];
const ENTRIES = '^lib/[^/]+\\.ts$';
const folders = (names) => `^lib/(${names.join('|')})/`;

const layerRules = LAYERS.flatMap((layer, i) => {
  const above = LAYERS.slice(i + 1).flat();
  return layer.map((name) => ({
    name: `layer-${name}`,
    comment:
      `lib/${name}/ may import only from the layers below it: ${LAYERS.slice(0, i).flat().join(', ') || 'none'}` +
      (layer.length > 1 ? ` (not from ${layer.filter((n) => n !== name).join(', ')}, which shares its layer)` : ''),
    severity: 'error',
    from: { path: folders([name]) },
    to: { path: [folders([...above, ...layer.filter((n) => n !== name)]), ENTRIES].join('|') },
  }));
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycle between modules (type-only imports included).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-circular-folders',
      comment: 'No import cycle between the folders of lib/.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^lib/' },
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'layer-unknown-folder',
      comment: 'Every folder of lib/ has a place in LAYERS above: a new folder is added there first.',
      severity: 'error',
      from: { path: '^lib/', pathNot: [folders(LAYERS.flat()), ENTRIES].join('|') },
      to: {},
    },
    {
      name: 'layer-unknown-folder-imported',
      comment: 'The same, seen from the importing side (a folder whose files import nothing is caught here).',
      severity: 'error',
      from: {},
      to: { path: '^lib/', pathNot: [folders(LAYERS.flat()), ENTRIES].join('|') },
    },
    {
      name: 'lib-not-to-outside',
      comment: 'lib/ is what the package ships: it imports nothing from test/, bench/ or scripts/.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every relative import resolves to a file.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, pathNot: '^node:' },
    },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    // bench/tmp/ is the git-ignored scratch folder of bench runs: not part of the code.
    exclude: { path: '^(dist|build|node_modules|bench/tmp)/' },
    moduleSystems: ['es6'],
    // Packages are resolved through their "exports" the way Node resolves an ES module (tsx/esm/api).
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'node', 'default'] },
  },
};
