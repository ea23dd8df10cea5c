export default async function globalTeardown(): Promise<void> {
  await Promise.all((globalThis.__ncaServers ?? []).map((server) => server.stop()));
}
