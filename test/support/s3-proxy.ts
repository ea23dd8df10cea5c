/**
 * A small HTTP proxy in front of s3rver that gives it the S3 behaviours it lacks, plus fault injection:
 *
 * - Conditional writes: s3rver 3.7.1 ignores If-None-Match and If-Match on PutObject, DeleteObject and
 *   CompleteMultipartUpload. The proxy checks them itself (a HEAD on s3rver) and answers 412 PreconditionFailed like S3, or 404
 *   NoSuchKey for If-Match on a missing key. Limit of the substitute: the check and the write are made
 *   atomic by serialising every single-object PUT, COPY and DELETE per key inside this proxy, so it holds only
 *   for clients that go through the same proxy; a multipart upload is checked at its completion (its
 *   parts pass through).
 * - Copy sources: s3rver decodes x-amz-copy-source with decodeURI, so a key with + # ? & = ; , : @ or $ is
 *   not found; the proxy rewrites the header to what s3rver's decodeURI turns into the key S3 would read.
 * - Copy conditions: s3rver ignores x-amz-copy-source-if-match / -if-none-match on CopyObject; the proxy
 *   answers 412 PreconditionFailed itself (the -if-(un)modified-since forms are not checked).
 * - UploadPartCopy: s3rver answers 501 NotImplemented; the proxy does it as a ranged GET of the source piped
 *   into an UploadPart (bounded memory), and answers CopyPartResult. Range errors answer 400 InvalidArgument.
 *   Limits: CopySourceRange only as `bytes=first-last`; S3's part sizes (5 MiB minimum, 5 GiB maximum) are
 *   not enforced; LastModified is the proxy's clock; -if-(un)modified-since are not checked.
 * - Suffix ranges: s3rver reads `Range: bytes=-N` as `bytes=0-N`; the proxy rewrites it to the last N bytes.
 * - aws-chunked bodies (streamed uploads with a trailing checksum): s3rver stores the framing verbatim; the
 *   proxy decodes them before s3rver sees them, whatever the trailer's algorithm.
 * - SHA-256 additional checksums (s3-checksums.ts has where they are held and the limits): PutObject and
 *   UploadPart with x-amz-checksum-sha256 (header or aws-chunked trailer) are spooled to a temporary file
 *   while hashed, refused with 400 BadDigest on a mismatch (the previous object stays), and remembered;
 *   multipart uploads created with ChecksumAlgorithm SHA256 keep part checksums, require them at completion
 *   like S3 (400 InvalidRequest when missing, 400 InvalidPart when different) and get the COMPOSITE checksum;
 *   CopyObject gets S3's copy rules (x-amz-checksum-algorithm SHA256 or a COMPOSITE source: SHA-256 of the
 *   copied bytes, FULL_OBJECT, hashed while streamed; a FULL_OBJECT source's checksum is kept; none stays
 *   none) and returns it in CopyObjectResult; HeadObject/GetObject with x-amz-checksum-mode ENABLED return
 *   x-amz-checksum-sha256 and x-amz-checksum-type on full (not ranged, not partNumber) reads; GetObjectAttributes
 *   (ETag, Checksum, ObjectParts, StorageClass, ObjectSize) is answered by the proxy (ObjectParts only for
 *   SHA-256 multipart objects, MaxParts/PartNumberMarker ignored, StorageClass always STANDARD).
 * - Faults: `failNext(n, status, code)` answers the next n requests with an S3 error document, e.g. 503
 *   SlowDown, as S3 does under load; used to prove the retry classification end to end.
 *
 * Used by the test setup and the demo (scripts/local-servers.ts startS3); production code talks to S3 as is.
 */
import { request, createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import {
  ChecksumLedger,
  Sha256Meter,
  Spool,
  appendToXml,
  checksumElements,
  compositeSha256,
  xmlEscape,
  xmlValues,
  type SpooledBody,
  type StoredChecksum,
} from './s3-checksums';
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
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error>`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function xmlAnswer(res: ServerResponse, body: string, headers: Record<string, string> = {}): void {
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
  res.writeHead(200, { ...headers, 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const PRECONDITION = 'At least one of the pre-conditions you specified did not hold';
const unquote = (etag: string | undefined) => etag?.replace(/"/g, '');
/** "/bucket/key" as S3 names the object: the path's segments decoded. */
const objectName = (pathname: string) => decodeURIComponent(pathname);
const encodedPath = (name: string) => name.split('/').map(encodeURIComponent).join('/');
const isAwsChunked = (headers: IncomingHttpHeaders) =>
  String(headers['content-encoding'] ?? '').includes('aws-chunked') || String(headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING-');
const validSha256 = (value: string) => /^[A-Za-z0-9+/]{43}=$/.test(value);

/** The copy source header ("bucket/key", "/bucket/key", URL-encoded, maybe "?versionId=") as an object name and upstream path. */
function copySource(header: string): { name: string; path: string } {
  const withoutVersion = header.split('?')[0]!;
  const name = `/${decodeURIComponent(withoutVersion).replace(/^\//, '')}`;
  return { name, path: encodedPath(name) };
}

/**
 * Headers for upstream once the proxy has the plain body: no aws-chunked framing, the decoded length, and a
 * trailer's checksum as a header (so a proxy chained behind this one sees it too).
 */
function plainBodyHeaders(headers: IncomingHttpHeaders, size: number, sha256: string | undefined): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = { ...headers, 'content-length': String(size), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
  if (sha256) out['x-amz-checksum-sha256'] = sha256;
  for (const name of ['transfer-encoding', 'x-amz-decoded-content-length', 'x-amz-trailer']) delete out[name];
  const encodings = String(headers['content-encoding'] ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e && e !== 'aws-chunked');
  if (encodings.length) out['content-encoding'] = encodings.join(',');
  else delete out['content-encoding'];
  return out;
}

export async function startS3Proxy(upstream: string): Promise<S3Proxy> {
  const target = new URL(upstream);
  const queues = new Map<string, Promise<void>>();
  const requests: S3Proxy['requests'] = [];
  const ledger = new ChecksumLedger();
  const spool = new Spool();
  let faults: { count: number; status: number; code: string } | undefined;

  /** One request to s3rver; the answer's body is left unread. */
  const send = (method: string, path: string, headers: IncomingHttpHeaders, body?: Buffer | Readable): Promise<IncomingMessage> =>
    new Promise((done, fail) => {
      const out = request({ host: target.hostname, port: target.port, method, path, headers }, done);
      out.on('error', fail);
      if (body === undefined) out.end();
      else if (Buffer.isBuffer(body)) out.end(body);
      else {
        body.on('error', (error) => out.destroy(error));
        body.pipe(out);
      }
    });

  const collect = (stream: Readable): Promise<Buffer> =>
    new Promise((done, fail) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => done(Buffer.concat(chunks)));
      stream.on('error', fail);
    });

  interface ForwardOptions {
    readonly body?: Buffer | Readable;
    readonly headers?: IncomingHttpHeaders;
    /** Extra response headers, decided from s3rver's status. */
    readonly decorate?: (status: number) => Record<string, string>;
  }

  /** Passes the request to s3rver and its answer back; resolves with s3rver's status once relayed. */
  const forward = (req: IncomingMessage, res: ServerResponse, options: ForwardOptions = {}): Promise<number> =>
    new Promise((done) => {
      const out = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: options.headers ?? req.headers },
        (answer) => {
          const status = answer.statusCode ?? 502;
          res.writeHead(status, { ...answer.headers, ...options.decorate?.(status) });
          answer.pipe(res);
          answer.on('end', () => done(status));
          answer.on('error', () => done(502));
        },
      );
      out.on('error', (error) => {
        if (!res.headersSent) errorDocument(res, 502, 'InternalError', `proxy: ${error.message}`);
        else res.destroy();
        done(502);
      });
      const body = options.body ?? req;
      if (Buffer.isBuffer(body)) out.end(body);
      else body.pipe(out);
    });

  /** s3rver's answer with a rewritten XML body (small documents only: results and errors). */
  const relayXml = (res: ServerResponse, answer: IncomingMessage, body: string, headers: Record<string, string> = {}) => {
    const { 'content-length': _length, ...rest } = answer.headers;
    res.writeHead(answer.statusCode ?? 502, { ...rest, ...headers, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  };

  const head = async (path: string): Promise<{ status: number; etag?: string; size: number; lastModified?: string }> => {
    const answer = await send('HEAD', path, {});
    answer.resume();
    await new Promise((done) => answer.on('end', done));
    return {
      status: answer.statusCode ?? 500,
      etag: answer.headers.etag,
      size: Number(answer.headers['content-length'] ?? 0),
      lastModified: answer.headers['last-modified'],
    };
  };

  /** SHA-256 of an object's bytes as s3rver holds them, streamed. */
  const hashObject = async (path: string): Promise<string> => {
    const answer = await send('GET', path, {});
    const meter = new Sha256Meter();
    answer.pipe(meter).resume();
    await new Promise((done, fail) => {
      meter.on('end', done);
      meter.on('error', fail);
    });
    return meter.digest();
  };

  const readBody = (req: IncomingMessage): Promise<Buffer> => collect(req);

  /** Runs `work` after every earlier PUT/COPY/DELETE of the same key has finished. */
  const serialised = (key: string, work: () => Promise<void>): Promise<void> => {
    const previous = queues.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    queues.set(key, next);
    void next.finally(() => {
      if (queues.get(key) === next) queues.delete(key);
    });
    return next;
  };

  /** Refuses the write when If-None-Match / If-Match do not hold; true when refused (answer sent). */
  const refusedByCondition = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> => {
    const ifNoneMatch = req.headers['if-none-match'];
    const ifMatch = req.headers['if-match'];
    if (!ifNoneMatch && !ifMatch) return false;
    const current = await head(path);
    const exists = current.status === 200;
    if (ifMatch && !exists) {
      errorDocument(res, 404, 'NoSuchKey', 'The specified key does not exist.');
      return true;
    }
    if ((ifNoneMatch === '*' && exists) || (ifMatch && ifMatch !== '*' && ifMatch !== current.etag)) {
      errorDocument(res, 412, 'PreconditionFailed', PRECONDITION);
      return true;
    }
    return false;
  };

  /**
   * The body of a PutObject/UploadPart that carries a checksum or aws-chunked framing, spooled and checked.
   * Undefined when the request has neither (it then streams through untouched); null when refused.
   */
  const checkedBody = async (
    req: IncomingMessage,
    res: ServerResponse,
    required: boolean,
  ): Promise<{ spooled: SpooledBody; sha256?: string } | undefined | null> => {
    const declared = req.headers['x-amz-checksum-sha256'] as string | undefined;
    const chunked = isAwsChunked(req.headers);
    if (!declared && !chunked && !required) return undefined;
    if (declared !== undefined && !validSha256(declared)) {
      req.resume();
      errorDocument(res, 400, 'InvalidRequest', 'Value for x-amz-checksum-sha256 header is invalid.');
      return null;
    }
    const spooled = await spool.take(req, chunked);
    const expected = declared ?? spooled.trailers['x-amz-checksum-sha256'];
    if (expected !== undefined && expected !== spooled.sha256) {
      spooled.discard();
      errorDocument(res, 400, 'BadDigest', 'The SHA256 you specified did not match the calculated checksum.');
      return null;
    }
    return { spooled, sha256: expected };
  };

  const putObject = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const checked = await checkedBody(req, res, false);
    if (checked === null) return;
    try {
      const body = checked ? undefined : req.headers['if-none-match'] || req.headers['if-match'] ? await readBody(req) : undefined;
      if (await refusedByCondition(req, res, url.pathname)) return;
      const sha256 = checked?.sha256;
      const status = await forward(req, res, {
        body: checked ? checked.spooled.open() : body,
        headers: checked ? plainBodyHeaders(req.headers, checked.spooled.size, sha256) : undefined,
        decorate: (s): Record<string, string> => (s === 200 && sha256 ? { 'x-amz-checksum-sha256': sha256, 'x-amz-checksum-type': 'FULL_OBJECT' } : {}),
      });
      if (status === 200) ledger.set(objectName(url.pathname), sha256 ? { sha256, type: 'FULL_OBJECT' } : undefined);
    } finally {
      checked?.spooled.discard();
    }
  };

  const deleteObject = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const body = req.headers['if-match'] ? await readBody(req) : undefined;
    if (await refusedByCondition(req, res, url.pathname)) return;
    const status = await forward(req, res, { body });
    if (status < 300) ledger.set(objectName(url.pathname), undefined);
  };

  const deleteObjects = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const body = await readBody(req);
    const bucket = url.pathname.split('/').filter(Boolean)[0];
    const status = await forward(req, res, { body });
    if (status === 200) for (const key of xmlValues(body.toString('utf8'), 'Key')) ledger.set(`/${bucket}/${key}`, undefined);
  };

  const createUpload = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const algorithm = String(req.headers['x-amz-checksum-algorithm'] ?? '').toUpperCase();
    const type = String(req.headers['x-amz-checksum-type'] ?? '').toUpperCase();
    if (algorithm === 'SHA256' && type === 'FULL_OBJECT') {
      req.resume();
      return errorDocument(res, 400, 'InvalidRequest', 'The FULL_OBJECT checksum type cannot be used with the sha256 checksum algorithm.');
    }
    if (algorithm !== 'SHA256') return void (await forward(req, res));
    const answer = await send('POST', req.url!, req.headers, await readBody(req));
    const xml = (await collect(answer)).toString('utf8');
    const uploadId = xmlValues(xml, 'UploadId')[0];
    if (answer.statusCode === 200 && uploadId) ledger.openUpload(uploadId, objectName(url.pathname));
    relayXml(res, answer, xml, answer.statusCode === 200 ? { 'x-amz-checksum-algorithm': 'SHA256', 'x-amz-checksum-type': 'COMPOSITE' } : {});
  };

  const uploadPart = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const upload = ledger.upload(url.searchParams.get('uploadId') ?? '');
    const checked = await checkedBody(req, res, upload !== undefined);
    if (checked === null) return;
    if (checked === undefined) return void (await forward(req, res));
    try {
      if (upload && checked.sha256 === undefined) {
        return errorDocument(res, 400, 'InvalidRequest', 'Checksum Type mismatch occurred, expected checksum Type: sha256, actual checksum Type: null');
      }
      const sha256 = checked.sha256;
      const status = await forward(req, res, {
        body: checked.spooled.open(),
        headers: plainBodyHeaders(req.headers, checked.spooled.size, sha256),
        decorate: (s): Record<string, string> => (s === 200 && sha256 ? { 'x-amz-checksum-sha256': sha256 } : {}),
      });
      if (status === 200 && upload && sha256) upload.parts.set(Number(url.searchParams.get('partNumber')), { sha256, size: checked.spooled.size });
    } finally {
      checked.spooled.discard();
    }
  };

  const uploadPartCopy = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    req.resume();
    const upload = ledger.upload(url.searchParams.get('uploadId') ?? '');
    const source = copySource(String(req.headers['x-amz-copy-source']));
    const current = await head(source.path);
    if (current.status !== 200) return errorDocument(res, 404, 'NoSuchKey', 'The specified key does not exist.');
    if (copyConditionFails(req.headers, current.etag)) return errorDocument(res, 412, 'PreconditionFailed', PRECONDITION);
    const rangeHeader = req.headers['x-amz-copy-source-range'] as string | undefined;
    let [start, end] = [0, current.size - 1];
    if (rangeHeader !== undefined) {
      const match = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader);
      if (!match || Number(match[1]) > Number(match[2]) || Number(match[2]) >= current.size) {
        return errorDocument(res, 400, 'InvalidArgument', `Range specified is not valid for source object of size: ${current.size}`);
      }
      [start, end] = [Number(match[1]), Number(match[2])];
    }
    const length = end - start + 1;
    const bytes = await send('GET', source.path, length > 0 ? { range: `bytes=${start}-${end}` } : {});
    if (bytes.statusCode !== 200 && bytes.statusCode !== 206) return relayXml(res, bytes, (await collect(bytes)).toString('utf8'));
    const meter = new Sha256Meter();
    bytes.pipe(meter);
    const partPath = `${url.pathname}?partNumber=${url.searchParams.get('partNumber')}&uploadId=${url.searchParams.get('uploadId')}`;
    const stored = await send('PUT', partPath, { 'content-length': String(Math.max(length, 0)) }, meter);
    const answer = await collect(stored);
    if (stored.statusCode !== 200) return relayXml(res, stored, answer.toString('utf8'));
    const sha256 = meter.digest();
    if (upload) upload.parts.set(Number(url.searchParams.get('partNumber')), { sha256, size: length });
    const checksum = upload ? `<ChecksumSHA256>${sha256}</ChecksumSHA256>` : '';
    xmlAnswer(
      res,
      `<CopyPartResult><LastModified>${new Date().toISOString()}</LastModified><ETag>${xmlEscape(stored.headers.etag ?? '')}</ETag>${checksum}</CopyPartResult>`,
    );
  };

  const completeUpload = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const body = await readBody(req);
    if (await refusedByCondition(req, res, url.pathname)) return;
    const uploadId = url.searchParams.get('uploadId') ?? '';
    const upload = ledger.upload(uploadId);
    const name = objectName(url.pathname);
    if (!upload) {
      const status = await forward(req, res, { body });
      if (status === 200) ledger.set(name, undefined);
      return;
    }
    const listed = [...body.toString('utf8').matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((m) => ({
      number: Number(xmlValues(m[1]!, 'PartNumber')[0]),
      sha256: xmlValues(m[1]!, 'ChecksumSHA256')[0],
    }));
    for (const part of listed) {
      if (part.sha256 === undefined) {
        return errorDocument(
          res,
          400,
          'InvalidRequest',
          `The upload was created using a sha256 checksum. The complete request must include the checksum for each part. It was missing for part ${part.number} in the request.`,
        );
      }
      if (upload.parts.get(part.number)?.sha256 !== part.sha256) {
        return errorDocument(
          res,
          400,
          'InvalidPart',
          "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
        );
      }
    }
    const answer = await send('POST', req.url!, req.headers, body);
    const xml = (await collect(answer)).toString('utf8');
    if (answer.statusCode !== 200) return relayXml(res, answer, xml);
    const checksum: StoredChecksum = {
      sha256: compositeSha256(listed.map((p) => p.sha256!)),
      type: 'COMPOSITE',
      parts: listed.map((p) => ({ number: p.number, sha256: p.sha256!, size: upload.parts.get(p.number)!.size })),
    };
    ledger.set(name, checksum);
    ledger.closeUpload(uploadId);
    relayXml(res, answer, appendToXml(xml, 'CompleteMultipartUploadResult', checksumElements(checksum)));
  };

  const copyObject = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    req.resume();
    const source = copySource(String(req.headers['x-amz-copy-source']));
    if (req.headers['x-amz-copy-source-if-match'] || req.headers['x-amz-copy-source-if-none-match']) {
      const current = await head(source.path);
      if (current.status === 200 && copyConditionFails(req.headers, current.etag)) return errorDocument(res, 412, 'PreconditionFailed', PRECONDITION);
    }
    const algorithm = String(req.headers['x-amz-checksum-algorithm'] ?? '').toUpperCase();
    // s3rver reads the header with decodeURI, which leaves + # ? & = ; , : @ $ encoded: a key holding one is
    // then not found. S3 decodes the whole header; the header is rewritten so that s3rver's decodeURI yields
    // the key S3 would read.
    const answer = await send('PUT', req.url!, { ...req.headers, 'x-amz-copy-source': encodeURI(source.name) }, Buffer.alloc(0));
    const xml = (await collect(answer)).toString('utf8');
    if (answer.statusCode !== 200) return relayXml(res, answer, xml);
    const sourceChecksum = ledger.get(source.name);
    // S3's copy rules: a requested algorithm, or a COMPOSITE source, gets a checksum of the whole copied object.
    let checksum: StoredChecksum | undefined;
    if (algorithm === 'SHA256' || (!algorithm && sourceChecksum?.type === 'COMPOSITE')) {
      checksum = { sha256: await hashObject(url.pathname), type: 'FULL_OBJECT' };
    } else if (!algorithm) checksum = sourceChecksum;
    ledger.set(objectName(url.pathname), checksum);
    relayXml(res, answer, appendToXml(xml, 'CopyObjectResult', checksumElements(checksum)));
  };

  /** GET/HEAD of an object: suffix ranges made S3's, and the checksum when x-amz-checksum-mode is ENABLED. */
  const readObject = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const suffix = /^bytes=-(\d+)$/.exec(String(req.headers.range ?? ''));
    let headers = req.headers;
    if (suffix) {
      const current = await head(url.pathname);
      if (current.status === 200 && current.size > 0 && Number(suffix[1]) > 0) {
        headers = { ...req.headers, range: `bytes=${Math.max(current.size - Number(suffix[1]), 0)}-${current.size - 1}` };
      }
    }
    const checksum = String(req.headers['x-amz-checksum-mode'] ?? '').toUpperCase() === 'ENABLED' ? ledger.get(objectName(url.pathname)) : undefined;
    await forward(req, res, {
      headers,
      decorate: (status): Record<string, string> =>
        status === 200 && checksum ? { 'x-amz-checksum-sha256': checksum.sha256, 'x-amz-checksum-type': checksum.type } : {},
    });
  };

  const objectAttributes = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    req.resume();
    const wanted = new Set(String(req.headers['x-amz-object-attributes'] ?? '').split(',').map((a) => a.trim()));
    const current = await head(url.pathname);
    if (current.status !== 200) return errorDocument(res, 404, 'NoSuchKey', 'The specified key does not exist.');
    const checksum = ledger.get(objectName(url.pathname));
    let xml = '<GetObjectAttributesResponse>';
    if (wanted.has('ETag')) xml += `<ETag>${unquote(current.etag)}</ETag>`;
    if (wanted.has('Checksum') && checksum) {
      xml += `<Checksum><ChecksumSHA256>${checksum.sha256.split('-')[0]}</ChecksumSHA256><ChecksumType>${checksum.type}</ChecksumType></Checksum>`;
    }
    if (wanted.has('ObjectParts') && checksum?.parts) {
      const parts = checksum.parts.map((p) => `<Part><PartNumber>${p.number}</PartNumber><Size>${p.size}</Size><ChecksumSHA256>${p.sha256}</ChecksumSHA256></Part>`);
      xml += `<ObjectParts><PartsCount>${parts.length}</PartsCount><PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>${checksum.parts.at(-1)!.number}</NextPartNumberMarker><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>${parts.join('')}</ObjectParts>`;
    }
    if (wanted.has('StorageClass')) xml += '<StorageClass>STANDARD</StorageClass>';
    if (wanted.has('ObjectSize')) xml += `<ObjectSize>${current.size}</ObjectSize>`;
    xmlAnswer(res, `${xml}</GetObjectAttributesResponse>`, current.lastModified ? { 'Last-Modified': current.lastModified } : {});
  };

  const fail = (res: ServerResponse) => (error: unknown) => {
    if (!res.headersSent) errorDocument(res, 500, 'InternalError', `proxy: ${(error as Error).message}`);
    else res.destroy();
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
    const onObject = url.pathname.split('/').filter(Boolean).length >= 2;
    const copy = req.headers['x-amz-copy-source'] !== undefined;
    const plainPath = !['tagging', 'acl', 'uploads', 'uploadId', 'attributes', 'partNumber', 'versionId'].some((p) => q.has(p));
    const method = req.method;
    let work: (() => Promise<void>) | undefined;
    let serialisedOn: string | undefined;
    if (!onObject) {
      if (method === 'POST' && q.has('delete')) work = () => deleteObjects(req, res, url);
    } else if (method === 'GET' && q.has('attributes')) work = () => objectAttributes(req, res, url);
    else if ((method === 'GET' || method === 'HEAD') && plainPath) work = () => readObject(req, res, url);
    else if (method === 'POST' && q.has('uploads')) work = () => createUpload(req, res, url);
    else if (method === 'PUT' && q.has('uploadId') && copy) work = () => uploadPartCopy(req, res, url);
    else if (method === 'PUT' && q.has('uploadId')) work = () => uploadPart(req, res, url);
    else if (method === 'PUT' && plainPath) {
      work = copy ? () => copyObject(req, res, url) : () => putObject(req, res, url);
      serialisedOn = url.pathname;
    } else if (method === 'DELETE' && plainPath) {
      work = () => deleteObject(req, res, url);
      serialisedOn = url.pathname;
    } else if (method === 'DELETE' && q.has('uploadId')) {
      work = async () => {
        if ((await forward(req, res)) < 300) ledger.closeUpload(q.get('uploadId')!);
      };
    } else if (method === 'POST' && q.has('uploadId')) {
      // CompleteMultipartUpload: where a multipart write's If-None-Match is decided.
      work = () => completeUpload(req, res, url);
      serialisedOn = url.pathname;
    }
    if (!work) return void forward(req, res);
    const run = work;
    void (serialisedOn ? serialised(serialisedOn, () => run().catch(fail(res))) : run().catch(fail(res)));
  });
  const { endpoint, stop } = await listenOnLoopback(server);
  return {
    endpoint,
    requests,
    failNext(count, status = 503, code = 'SlowDown') {
      faults = { count, status, code };
    },
    stop: async () => {
      await stop();
      spool.remove();
    },
  };
}

/** x-amz-copy-source-if-match / -if-none-match against the source's current ETag. */
function copyConditionFails(headers: IncomingHttpHeaders, etag: string | undefined): boolean {
  const ifMatch = headers['x-amz-copy-source-if-match'] as string | undefined;
  const ifNoneMatch = headers['x-amz-copy-source-if-none-match'] as string | undefined;
  if (ifMatch && ifMatch !== '*' && unquote(ifMatch) !== unquote(etag)) return true;
  if (ifNoneMatch && (ifNoneMatch === '*' || unquote(ifNoneMatch) === unquote(etag))) return true;
  return false;
}
