/**
 * A bare pipelined RESP2 connection for the two hot paths (reading keys for a backup or fingerprint,
 * writing RESTOREs). ioredis builds an object, a promise and an argument array per command and parses
 * every reply into one; at a million keys that, not the server, was the limit (node at 100% of a core,
 * the server half idle). Here a whole batch of commands is one Buffer written at once, and its replies
 * come back as one array of Buffer views into the received chunks (no copies), parsed incrementally so
 * a reply spanning many chunks is never re-parsed.
 *
 * It does only what those paths need: connect (TCP or TLS), AUTH, SELECT, CLIENT SETNAME, then
 * `exchange(request, replies)`. Anything else (SCAN, INFO, the rare fallback reads) stays on ioredis.
 * A dropped connection rejects every exchange in flight with "Connection is closed" (or the socket's
 * error code), which redisFailure maps to a TransientError.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { putBytes } from './bytes';
/** Where a connection goes: connection.ts's RedisTarget extends it (so this module does not import that one). */
export interface RespEndpoint {
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  /** Never logged. */
  readonly password?: string;
  readonly tls: boolean;
  /** Logical database index (SELECT n). */
  readonly db: number;
}

export type Reply = Buffer | number | null | ReplyError | Reply[];

/** An error reply from the server (`-ERR ...`): a value in the reply list, not a thrown error. */
export class ReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyError';
  }
}

const CRLF = 0x0a;
const CR = 0x0d;
/** Strings up to this length are written char by char; longer ones through one UTF-8 encoding call. */
const SHORT_TEXT = 48;

/** How many decimal digits a non-negative integer has. */
function decimalWidth(n: number): number {
  let width = 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) width++;
  return width;
}

/**
 * Appends RESP commands to a growing buffer: one write per batch instead of one per command. Bytes are
 * written directly (no template strings, no string encoding calls): at a million RESTOREs or DUMPs the
 * framing was a quarter of the worker's CPU.
 */
export class CommandWriter {
  private buf: Buffer;
  private at = 0;

  constructor(initial = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  /** A non-negative integer's decimal digits (room already made: at most 16 bytes). */
  private digits(n: number, width = decimalWidth(n)): void {
    const buf = this.buf;
    let at = this.at + width;
    this.at = at;
    for (let rest = n; width-- > 0; rest = Math.floor(rest / 10)) buf[--at] = 48 + (rest % 10);
  }

  /** `<prefix><n>\r\n`: an array or bulk length header. */
  private header(prefix: number, n: number): void {
    this.room(20);
    this.buf[this.at++] = prefix;
    this.digits(n);
    this.buf[this.at++] = CR;
    this.buf[this.at++] = CRLF;
  }

  private bulk(bytes: Buffer): void {
    const n = bytes.length;
    this.header(0x24 /* $ */, n);
    this.room(n + 2);
    const buf = this.buf;
    let at = putBytes(buf, this.at, bytes);
    buf[at++] = CR;
    buf[at++] = CRLF;
    this.at = at;
  }

  private text(text: string): void {
    const n = text.length;
    if (n > SHORT_TEXT || !/^[\x00-\x7f]*$/.test(text)) {
      // Long or non-ASCII (a password, a client name): its UTF-8 bytes.
      this.bulk(Buffer.from(text, 'utf8'));
      return;
    }
    this.header(0x24 /* $ */, n);
    this.room(n + 2);
    const buf = this.buf;
    let at = this.at;
    for (let i = 0; i < n; i++) buf[at++] = text.charCodeAt(i);
    buf[at++] = CR;
    buf[at++] = CRLF;
    this.at = at;
  }

  /** One command; numbers are written as integers in decimal, strings as their UTF-8 bytes. */
  command(...args: (Buffer | string | number)[]): this {
    this.header(0x2a /* * */, args.length);
    for (const arg of args) {
      if (typeof arg === 'number') {
        if (!Number.isSafeInteger(arg)) throw new Error(`a RESP integer argument must be a safe integer, not ${arg}`);
        if (arg >= 0) {
          const width = decimalWidth(arg);
          this.header(0x24 /* $ */, width);
          this.room(width + 2);
          this.digits(arg, width);
          this.buf[this.at++] = CR;
          this.buf[this.at++] = CRLF;
        } else {
          this.text(String(arg));
        }
      } else if (typeof arg === 'string') {
        this.text(arg);
      } else {
        this.bulk(arg);
      }
    }
    return this;
  }

  get bytes(): number {
    return this.at;
  }

  /** The commands written so far (a view; the writer must not be reused after). */
  take(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}

interface Pending {
  readonly count: number;
  readonly replies: Reply[];
  resolve(replies: Reply[]): void;
  reject(error: Error): void;
}

interface OpenArray {
  readonly items: Reply[];
  remaining: number;
}

/** Incremental RESP2 parser: feed chunks, get complete top-level replies; arrays may span chunks. */
export class ReplyParser {
  private chunk: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** Chunks of one bulk string still arriving, and how many bytes it needs (payload + CRLF). */
  private bulkParts: Buffer[] = [];
  private bulkHave = 0;
  private bulkNeed = -1;
  private readonly stack: OpenArray[] = [];

  constructor(private readonly onReply: (reply: Reply) => void) {}

  feed(data: Buffer): void {
    if (this.bulkNeed >= 0) {
      this.bulkParts.push(data);
      this.bulkHave += data.length;
      if (this.bulkHave < this.bulkNeed) return;
      const joined = Buffer.concat(this.bulkParts, this.bulkHave);
      this.bulkParts = [];
      const need = this.bulkNeed;
      this.bulkNeed = -1;
      this.value(joined.subarray(0, need - 2));
      this.chunk = joined;
      this.pos = need;
    } else {
      this.chunk = this.pos < this.chunk.length ? Buffer.concat([this.chunk.subarray(this.pos), data]) : data;
      this.pos = 0;
    }
    this.parse();
  }

  private value(reply: Reply): void {
    let value = reply;
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (!top) {
        this.onReply(value);
        return;
      }
      top.items.push(value);
      if (--top.remaining > 0) return;
      this.stack.pop();
      value = top.items;
    }
  }

  private parse(): void {
    const buf = this.chunk;
    for (;;) {
      const start = this.pos;
      if (start >= buf.length) return;
      const eol = buf.indexOf(CRLF, start);
      if (eol < 0) return;
      const type = buf[start];
      const line = eol - 1;
      switch (type) {
        case 0x24 /* $ */: {
          const length = parseIntAscii(buf, start + 1, line);
          if (length < 0) {
            this.pos = eol + 1;
            this.value(null);
            break;
          }
          const from = eol + 1;
          const end = from + length + 2;
          if (end > buf.length) {
            // Wait for the rest without re-parsing: keep the parts, join once when complete.
            this.bulkParts = [buf.subarray(from)];
            this.bulkHave = buf.length - from;
            this.bulkNeed = length + 2;
            this.chunk = Buffer.alloc(0);
            this.pos = 0;
            return;
          }
          this.pos = end;
          this.value(buf.subarray(from, from + length));
          break;
        }
        case 0x3a /* : */:
          this.pos = eol + 1;
          this.value(parseIntAscii(buf, start + 1, line));
          break;
        case 0x2b /* + */:
          this.pos = eol + 1;
          this.value(buf.subarray(start + 1, line));
          break;
        case 0x2d /* - */:
          this.pos = eol + 1;
          this.value(new ReplyError(buf.toString('utf8', start + 1, line)));
          break;
        case 0x2a /* * */: {
          const length = parseIntAscii(buf, start + 1, line);
          this.pos = eol + 1;
          if (length < 0) this.value(null);
          else if (length === 0) this.value([]);
          else this.stack.push({ items: [], remaining: length });
          break;
        }
        default:
          throw new Error(`unexpected RESP type byte 0x${type.toString(16)}`);
      }
    }
  }
}

function parseIntAscii(buf: Buffer, from: number, to: number): number {
  let negative = false;
  let at = from;
  if (buf[at] === 0x2d) {
    negative = true;
    at++;
  }
  let n = 0;
  for (; at < to; at++) n = n * 10 + (buf[at] - 48);
  return negative ? -n : n;
}

/** Error of a closed or failed connection; its message matches connection.ts's TRANSIENT pattern. */
function closedError(cause?: Error): Error {
  const error = new Error(cause ? `Connection is closed (${cause.message})` : 'Connection is closed');
  if (cause && (cause as NodeJS.ErrnoException).code) (error as NodeJS.ErrnoException).code = (cause as NodeJS.ErrnoException).code;
  return error;
}

export class RespConnection {
  private readonly pending: Pending[] = [];
  private failure: Error | undefined;
  private readonly parser: ReplyParser;

  private constructor(private readonly socket: Socket) {
    this.parser = new ReplyParser((reply) => this.deliver(reply));
    socket.on('data', (data: Buffer) => {
      try {
        this.parser.feed(data);
      } catch (error) {
        this.fail(error as Error);
        socket.destroy();
      }
    });
    socket.on('error', (error) => this.fail(closedError(error)));
    socket.on('close', () => this.fail(closedError()));
  }

  /** Connects, authenticates, selects the database and names the connection (CLIENT LIST shows it). */
  static async open(target: RespEndpoint, name: string, timeoutMs = 10_000): Promise<RespConnection> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const options = { host: target.host, port: target.port };
      const s: Socket = target.tls ? tlsConnect({ ...options, servername: target.host }) : tcpConnect(options);
      const timer = setTimeout(() => {
        s.destroy();
        reject(Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' }));
      }, timeoutMs);
      s.once(target.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.setNoDelay(true);
        resolve(s);
      });
      s.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    const connection = new RespConnection(socket);
    try {
      const hello = new CommandWriter(256);
      let count = 0;
      if (target.password !== undefined) {
        if (target.username) hello.command('AUTH', target.username, target.password);
        else hello.command('AUTH', target.password);
        count++;
      }
      if (target.db !== 0) {
        hello.command('SELECT', target.db);
        count++;
      }
      hello.command('CLIENT', 'SETNAME', name);
      count++;
      for (const reply of await connection.exchange(hello.take(), count)) {
        if (reply instanceof ReplyError) throw reply;
      }
    } catch (error) {
      connection.close();
      throw error;
    }
    return connection;
  }

  /** Sends `request` (RESP commands) and resolves with its `replies` top-level replies, in order. */
  exchange(request: Buffer, replies: number): Promise<Reply[]> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.push({ count: replies, replies: [], resolve, reject });
      this.socket.write(request);
    });
  }

  close(): void {
    this.fail(closedError());
    this.socket.destroy();
  }

  private deliver(reply: Reply): void {
    const head = this.pending[0];
    if (!head) {
      this.fail(new Error('Redis sent a reply nothing asked for'));
      this.socket.destroy();
      return;
    }
    head.replies.push(reply);
    if (head.replies.length === head.count) {
      this.pending.shift();
      head.resolve(head.replies);
    }
  }

  private fail(error: Error): void {
    if (!this.failure) this.failure = error;
    for (const waiting of this.pending.splice(0)) waiting.reject(this.failure);
  }
}

/** Replies of one MULTI ... EXEC: the EXEC array, or the first queuing error (as ioredis's previousErrors would say). */
export function execResult(replies: Reply[]): Reply[] {
  const exec = replies[replies.length - 1];
  if (Array.isArray(exec)) return exec;
  const queued = replies.slice(0, -1).find((r): r is ReplyError => r instanceof ReplyError);
  if (queued) throw queued;
  if (exec instanceof ReplyError) throw exec;
  throw new Error('a read transaction was aborted by the server');
}
