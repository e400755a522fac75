// A real redis-server (Debian's, installed by scripts/setup-debian.sh) on a free loopback port, in a temporary
// directory, for the distributed-search tests: started, stopped and restarted by the test that owns it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface RedisOptions {
  password?: string;
  /** Append-only file, fsync on every write: the data outlives a restart, as a queue's Redis should be run. */
  persistent?: boolean;
  /** Serve TLS on the port with this certificate and key (no plain port). */
  tls?: { cert: string; key: string; ca: string };
}

export class RedisServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'petra-redis-'));
  port = 0;
  private child: ChildProcess | undefined;
  constructor(private readonly options: RedisOptions = {}) {}

  get url(): string {
    const auth = this.options.password ? `:${encodeURIComponent(this.options.password)}@` : '';
    return `${this.options.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    const o = this.options;
    const args = [
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--protected-mode',
      'no',
      ...(o.tls
        ? [
            '--port',
            '0',
            '--tls-port',
            String(this.port),
            '--tls-cert-file',
            o.tls.cert,
            '--tls-key-file',
            o.tls.key,
            '--tls-ca-cert-file',
            o.tls.ca,
            '--tls-auth-clients',
            'no',
          ]
        : ['--port', String(this.port)]),
      ...(o.password ? ['--requirepass', o.password] : []),
      ...(o.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    ];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}): ${out}`));
      });
    });
    child.removeAllListeners('exit');
  }

  /** Stops the server (SIGTERM: with append-only persistence its data is on disk). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    this.child = undefined;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  async restart(downMs: number): Promise<void> {
    await this.stop();
    await new Promise((r) => setTimeout(r, downMs));
    await this.start();
  }
}

/** A throwaway CA and a server certificate for 127.0.0.1, made with openssl. */
export function makeTlsFiles(dir: string): { cert: string; key: string; ca: string } {
  const run = (args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir });
    if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr.toString()}`);
  };
  run([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=petra-test-ca',
  ]);
  run([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=localhost',
  ]);
  spawnSync('sh', ['-c', 'printf "subjectAltName=DNS:localhost,IP:127.0.0.1" > ext.cnf'], { cwd: dir });
  run([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  ]);
  return { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(dir, 'ca.crt') };
}
