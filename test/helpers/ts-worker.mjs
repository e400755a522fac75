// Worker threads do not inherit tsx from the parent's --import: register it here, then load the TS worker.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.script);
