export * from './types.js';
export { validateSpec, inferShapes, topologicalOrder, parameterCount, nodeParameterCount } from './validate.js';
export * from './builders.js';
