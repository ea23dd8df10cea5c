/**
 * The bare RESP connection's framing (resp.ts): the bytes CommandWriter writes are exactly the RESP the
 * protocol specifies for every kind of argument, and ReplyParser reads replies back whatever the chunking.
 */
import { CommandWriter, ReplyError, ReplyParser, type Reply } from '../../functions/components/redis/resp';

/** The protocol's definition, written the slow obvious way. */
function reference(args: (Buffer | string | number)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`, 'ascii')];
  for (const arg of args) {
    const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg), 'utf8');
    parts.push(Buffer.from(`$${bytes.length}\r\n`, 'ascii'), bytes, Buffer.from('\r\n', 'ascii'));
  }
  return Buffer.concat(parts);
}

describe('CommandWriter', () => {
  const cases: [string, (Buffer | string | number)[]][] = [
    ['a command with no arguments', ['EXEC']],
    ['RESTORE with a binary key and payload', ['RESTORE', Buffer.from([0, 0x0d, 0x0a, 0xff]), 0, Buffer.from('payload\r\n'), 'REPLACE']],
    ['an absolute expiry in milliseconds', ['RESTORE', Buffer.from('k'), 1_798_761_600_123, Buffer.alloc(0), 'REPLACE', 'ABSTTL']],
    ['zero, one digit, powers of ten and a negative number', ['X', 0, 9, 10, 99, 100, 1000, 123456789, -1, -250]],
    ['the largest safe integer', ['X', Number.MAX_SAFE_INTEGER]],
    ['a non-ASCII password (UTF-8 on the wire)', ['AUTH', 'nca-admin', 'pässwörd-€-🔑']],
    ['an empty string and an empty buffer', ['SET', '', Buffer.alloc(0)]],
    ['a key longer than the byte-by-byte copy', ['DUMP', Buffer.alloc(5000, 0x61)]],
    ['a long ASCII string', ['CLIENT', 'SETNAME', 'n'.repeat(300)]],
  ];

  it.each(cases)('writes %s exactly as RESP specifies', (_name, args) => {
    expect(new CommandWriter(1).command(...args).take().toString('hex')).toBe(reference(args).toString('hex'));
  });

  it('grows past its initial size and keeps every command of a batch in order', () => {
    const writer = new CommandWriter(16);
    const commands: (Buffer | string | number)[][] = [];
    for (let i = 0; i < 2000; i++) commands.push(['RESTORE', Buffer.from(`memory:working:${i}`), i * 7919, Buffer.alloc(i % 300, i % 256), 'REPLACE']);
    for (const args of commands) writer.command(...args);
    // equals(), not toEqual: jest's deep comparison of a 300 kB buffer takes seconds.
    expect(writer.take().equals(Buffer.concat(commands.map(reference)))).toBe(true);
    expect(writer.bytes).toBe(writer.take().length);
  });

  it('refuses a number it cannot write as a RESP integer, naming it', () => {
    expect(() => new CommandWriter().command('X', 1.5)).toThrow(/safe integer, not 1.5/);
    expect(() => new CommandWriter().command('X', Number.NaN)).toThrow(/NaN/);
  });
});

describe('ReplyParser', () => {
  const wire = Buffer.from('+OK\r\n:42\r\n$5\r\nhel\r\n\r\n$-1\r\n*3\r\n:1\r\n*2\r\n$1\r\na\r\n$0\r\n\r\n-ERR bad\r\n*0\r\n', 'latin1');
  const expected = (replies: Reply[]) => {
    expect(replies).toHaveLength(6);
    expect(replies[0]).toEqual(Buffer.from('OK'));
    expect(replies[1]).toBe(42);
    expect(replies[2]).toEqual(Buffer.from('hel\r\n'));
    expect(replies[3]).toBeNull();
    expect(replies[4]).toEqual([1, [Buffer.from('a'), Buffer.alloc(0)], expect.any(ReplyError)]);
    expect((replies[4] as Reply[])[2]).toMatchObject({ message: 'ERR bad' });
    expect(replies[5]).toEqual([]);
  };

  it('reads replies fed in one chunk', () => {
    const replies: Reply[] = [];
    new ReplyParser((r) => replies.push(r)).feed(wire);
    expected(replies);
  });

  it.each([1, 2, 3, 7])('reads the same replies fed %i bytes at a time', (size) => {
    const replies: Reply[] = [];
    const parser = new ReplyParser((r) => replies.push(r));
    for (let at = 0; at < wire.length; at += size) parser.feed(wire.subarray(at, at + size));
    expected(replies);
  });
});
