import { rmSync } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  await Promise.all((globalThis.__ncaServers ?? []).map((server) => server.stop()));
  for (const dir of globalThis.__ncaTempDirs ?? []) rmSync(dir, { recursive: true, force: true });
}
