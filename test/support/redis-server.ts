/**
 * A redis-server for one test file: started before its tests, stopped after them with every client a
 * test opened. Tests reach it with ioredis clients on a database index and with component targets.
 */
import Redis from 'ioredis';
import { connectRedis, type RedisTarget } from '../../functions/components/redis';
import { startRedis, type RunningRedis } from '../../scripts/local-servers';

export interface FileRedis {
  /** The running server; throws when it did not start (the beforeAll error says why). */
  readonly server: RunningRedis;
  /** An ioredis client on database `db`, disconnected after the file's tests. */
  client(db?: number): Redis;
  /** The redis component's target for database `db` of this server. */
  target(db: number, keyPatterns?: string[], env?: NodeJS.ProcessEnv): Promise<RedisTarget>;
}

export function redisForFile(): FileRedis {
  let server: RunningRedis | undefined;
  const clients: Redis[] = [];
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    clients.forEach((c) => c.disconnect());
    await server?.stop();
  });
  // Without this a failed start-up would leave clients retrying the default port and the run hanging.
  const running = (): RunningRedis => {
    if (!server) throw new Error('the redis-server for this file did not start (see the beforeAll error)');
    return server;
  };
  return {
    get server() {
      return running();
    },
    client(db = 0) {
      const c = new Redis({ port: running().port, host: '127.0.0.1', db });
      clients.push(c);
      return c;
    },
    target: (db, keyPatterns = ['*'], env = {}) => connectRedis({ db, keyPatterns }, { NCA_REDIS_URL: running().url, ...env }),
  };
}
