// The e2e model folder, and extra servers for the tests that need one of their own (to stop it).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_MODEL_DIR = process.env.SPLITWISE_E2E_MODEL ?? path.join(os.tmpdir(), 'splitwise-e2e', 'tiny');
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A free TCP port on 127.0.0.1 (free now; the caller binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface ChildServer {
  url: string;
  stop(): Promise<void>;
}

/** scripts/start.ts in a child process on `port`, serving the already built page (`extra`: more of its flags). */
export async function startServer(port: number, extra: string[] = []): Promise<ChildServer> {
  const args = ['--import', 'tsx', 'scripts/start.ts', '--model', E2E_MODEL_DIR, '--model', 'models/stories260K', '--config', 'tiny', '--port', String(port), '--no-build', '--log-level', 'warn', ...extra];
  const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 60_000);
    child.stdout!.on('data', (b: Buffer) => {
      log += b.toString();
      const m = /splitwise: listening on (http:\/\/\S+?)\/? /.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    child.once('exit', (code) => reject(new Error(`server exited (${code}):\n${log}`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
