/**
 * The programmatic search (`search`, `resumeSearch`, `readStudy`, the study handle and their types), as lib/index.ts
 * exports it. It lives in lib/api/search.ts, a layer below the CLI's commands, which are built on it.
 */
export * from './api/search.js';
