/**
 * A small HTTP proxy in front of s3rver that gives it the two S3 behaviours it lacks, plus fault injection:
 *
 * - Conditional writes: s3rver 3.7.1 ignores If-None-Match and If-Match on PutObject, DeleteObject and
 *   CompleteMultipartUpload. The proxy checks them itself (a HEAD on s3rver) and answers 412 PreconditionFailed like S3, or 404
 *   NoSuchKey for If-Match on a missing key. Limit of the substitute: the check and the write are made
 *   atomic by serialising every single-object PUT and DELETE per key inside this proxy, so it holds only
 *   for clients that go through the same proxy; a multipart upload is checked at its completion (its
 *   parts pass through), copies pass through unchecked.
 * - Faults: `failNext(n, status, code)` answers the next n requests with an S3 error document, e.g. 503
 *   SlowDown, as S3 does under load; used to prove the retry classification end to end.
 *
 * Used by the test setup and the demo (scripts/local-servers.ts startS3); production code talks to S3 as is.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './loopback';

export interface S3Proxy {
  readonly endpoint: string;
  /** The next `count` requests fail with this status and S3 error code (after `afterRequests` pass). */
  failNext(count: number, status?: number, code?: string): void;
  /** Requests seen, for assertions on what a client sent. */
  readonly requests: { method: string; path: string; status: number }[];
  stop(): Promise<void>;
}

function errorDocument(res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startS3Proxy(upstream: string): Promise<S3Proxy> {
  const target = new URL(upstream);
  const queues = new Map<string, Promise<void>>();
  const requests: S3Proxy['requests'] = [];
  let faults: { count: number; status: number; code: string } | undefined;

  const forward = (req: IncomingMessage, res: ServerResponse, body?: Buffer): Promise<void> =>
    new Promise((done) => {
      const out = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.on('end', done);
          answer.on('error', done);
        },
      );
      out.on('error', (error) => {
        if (!res.headersSent) errorDocument(res, 502, 'InternalError', `proxy: ${error.message}`);
        else res.destroy();
        done();
      });
      if (body) out.end(body);
      else req.pipe(out);
    });

  const head = (path: string): Promise<{ status: number; etag?: string }> =>
    new Promise((done, fail) => {
      const out = request({ host: target.hostname, port: target.port, method: 'HEAD', path }, (answer) => {
        answer.resume();
        answer.on('end', () => done({ status: answer.statusCode ?? 500, etag: answer.headers.etag as string | undefined }));
      });
      out.on('error', fail);
      out.end();
    });

  const readBody = (req: IncomingMessage): Promise<Buffer> =>
    new Promise((done, fail) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => done(Buffer.concat(chunks)));
      req.on('error', fail);
    });

  /** Runs `work` after every earlier PUT/DELETE of the same key has finished. */
  const serialised = (key: string, work: () => Promise<void>): Promise<void> => {
    const previous = queues.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    queues.set(key, next);
    void next.finally(() => {
      if (queues.get(key) === next) queues.delete(key);
    });
    return next;
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', upstream);
    const record = { method: req.method ?? '', path: url.pathname, status: 0 };
    requests.push(record);
    res.on('finish', () => (record.status = res.statusCode));
    if (faults && faults.count > 0) {
      faults.count--;
      req.resume();
      req.on('end', () => errorDocument(res, faults!.status, faults!.code, 'injected by the test S3 proxy'));
      return;
    }
    const q = url.searchParams;
    const singleObject =
      (req.method === 'PUT' && !q.has('uploadId') && !q.has('partNumber') && !q.has('tagging') && !req.headers['x-amz-copy-source']) ||
      (req.method === 'DELETE' && !q.has('uploadId')) ||
      // CompleteMultipartUpload: where a multipart write's If-None-Match is decided.
      (req.method === 'POST' && q.has('uploadId'));
    if (!singleObject) {
      void forward(req, res);
      return;
    }
    void serialised(url.pathname, async () => {
      const ifNoneMatch = req.headers['if-none-match'];
      const ifMatch = req.headers['if-match'];
      if (ifNoneMatch || ifMatch) {
        // Read the body first: the write may be refused, and the client waits for its request to be consumed.
        const body = await readBody(req);
        const current = await head(url.pathname);
        const exists = current.status === 200;
        if (ifNoneMatch === '*' && exists) return errorDocument(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
        if (ifMatch && !exists) return errorDocument(res, 404, 'NoSuchKey', 'The specified key does not exist.');
        if (ifMatch && ifMatch !== '*' && ifMatch !== current.etag) {
          return errorDocument(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
        }
        return forward(req, res, body);
      }
      return forward(req, res);
    });
  });
  const { endpoint, stop } = await listenOnLoopback(server);
  return {
    endpoint,
    requests,
    failNext(count, status = 503, code = 'SlowDown') {
      faults = { count, status, code };
    },
    stop,
  };
}
