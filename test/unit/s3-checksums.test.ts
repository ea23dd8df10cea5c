import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { AwsChunkedDecoder, compositeSha256, sha256Base64 } from '../support/s3-checksums';

/** An aws-chunked body as the SDK frames a stream: chunks of the given sizes, then the trailer. */
function awsChunked(payload: Buffer, chunkSizes: number[], trailer: string): Buffer {
  const pieces: Buffer[] = [];
  let at = 0;
  for (const size of chunkSizes) {
    pieces.push(Buffer.from(`${size.toString(16)}\r\n`), payload.subarray(at, at + size), Buffer.from('\r\n'));
    at += size;
  }
  pieces.push(Buffer.from(`0\r\n${trailer}\r\n\r\n`));
  return Buffer.concat(pieces);
}

async function decode(writes: Buffer[]): Promise<{ payload: Buffer; trailers: Record<string, string> }> {
  const decoder = new AwsChunkedDecoder();
  const out: Buffer[] = [];
  decoder.on('data', (chunk: Buffer) => out.push(chunk));
  await new Promise<void>((done, fail) => {
    decoder.on('end', done);
    decoder.on('error', fail);
    Readable.from(writes).pipe(decoder);
  });
  return { payload: Buffer.concat(out), trailers: decoder.trailers };
}

describe('aws-chunked decoding', () => {
  const payload = Buffer.from('model weights, layer 0 to layer 11, fp16');
  const trailer = `x-amz-checksum-sha256:${sha256Base64(payload)}`;
  const body = awsChunked(payload, [16, 16, payload.length - 32], trailer);

  test('whatever the network splits, the payload and the trailing checksum come out whole', async () => {
    for (let split = 1; split < body.length; split++) {
      const decoded = await decode([body.subarray(0, split), body.subarray(split)]);
      expect([split, decoded.payload.toString(), decoded.trailers]).toEqual([split, payload.toString(), { 'x-amz-checksum-sha256': sha256Base64(payload) }]);
    }
    const byteByByte = await decode([...body].map((b) => Buffer.from([b])));
    expect(byteByByte.payload.toString()).toBe(payload.toString());
  });

  test('a body cut inside a chunk is an error, not a shorter object', async () => {
    await expect(decode([body.subarray(0, 30)])).rejects.toThrow(/ended inside a chunk/);
  });
});

test("the composite checksum is the SHA-256 over the parts' binary digests, with the part count", () => {
  const parts = [Buffer.from('part one'), Buffer.from('part two')];
  const digests = parts.map(sha256Base64);
  const expected = createHash('sha256')
    .update(Buffer.concat(parts.map((p) => createHash('sha256').update(p).digest())))
    .digest('base64');
  expect(compositeSha256(digests)).toBe(`${expected}-2`);
});
