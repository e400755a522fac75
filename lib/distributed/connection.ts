/**
 * Redis connections for the candidate queue. A queue is named by one URL — `redis://[user:password@]host:port[/db]`
 * or `rediss://…` for TLS (a private CA is trusted through NODE_EXTRA_CA_CERTS) — and petra never prints the
 * password: every message names the queue by `describeQueue`.
 */
import type { ConnectionOptions } from 'bullmq';
import { ConfigError } from '../core/errors.js';

/** The device class a study runs on names the queue, so a CPU worker never takes a CUDA study's candidates. */
export type DeviceClass = 'cpu' | 'cuda';

export function deviceClass(device: string): DeviceClass {
  return device.startsWith('cuda') ? 'cuda' : 'cpu';
}

export function queueName(device: string): string {
  return `petra-candidates-${deviceClass(device)}`;
}

/** Checks the URL's form; throws ConfigError naming `queue` for anything that is not a Redis URL. */
export function parseQueueUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`'${describeQueue(url)}' is not a URL (redis://host:6379 or rediss://host:6380)`, 'queue');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new ConfigError(`'${describeQueue(url)}': the queue is a Redis URL (redis:// or rediss:// for TLS)`, 'queue');
  }
  if (!parsed.hostname) throw new ConfigError(`'${describeQueue(url)}' names no host`, 'queue');
  const db = parsed.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db))
    throw new ConfigError(`'${describeQueue(url)}': the path must be a database number`, 'queue');
  return parsed;
}

/** The URL with its password replaced by ***, for messages and logs. */
export function describeQueue(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/i, '$1***@');
}

/**
 * BullMQ connection options. `maxRetriesPerRequest: null` and the offline queue make every command wait through a
 * Redis restart instead of failing (the coordinator and the workers report the outage and carry on); reconnects back
 * off to 2 s so a restarted server is found within seconds.
 */
export function connectionOptions(url: string): ConnectionOptions {
  parseQueueUrl(url);
  return {
    url,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
  };
}

/**
 * Connection errors that waiting cannot cure — a refused password, a certificate this process does not trust —
 * turned into what to do about them; undefined for the ones that go away when Redis comes back.
 */
export function fatalConnectionHint(error: unknown, url: string): string | undefined {
  const message = error instanceof Error ? error.message : String(error);
  const where = describeQueue(url);
  if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(message)) {
    return `Redis at ${where} refused the credentials (${message.split('\n')[0]}); put the password in the URL: redis://:PASSWORD@host:port (or redis://USER:PASSWORD@…)`;
  }
  if (/certificate|self[- ]signed|SSL|TLS|wrong version number|ERR_SSL/i.test(message)) {
    return `TLS to ${where} failed (${message.split('\n')[0]}); for a private CA start petra with NODE_EXTRA_CA_CERTS=/path/to/ca.pem, and use rediss:// only for a TLS port`;
  }
  return undefined;
}
