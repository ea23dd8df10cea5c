/**
 * Wrappers around any artifact sink or source that change when, or how fast, bytes flow: a fault injected
 * at a known point of a backup or restore, a slow upload or download. The bytes themselves pass unchanged.
 */
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import type { ArtifactSink, ArtifactSource } from '../../functions/components/types';

/** A sink that awaits `before(name)` once an artifact's stream is handed to it, then writes through `inner`. */
export function sinkAfter(inner: ArtifactSink, before: (name: string) => Promise<unknown>): ArtifactSink {
  return {
    backupId: inner.backupId,
    async write(name, body, options) {
      await before(name);
      return inner.write(name, body, options);
    },
  };
}

/**
 * A source whose artifacts flow only once `gate(name)` has resolved (a rejected gate fails the stream);
 * an artifact for which `gate` returns undefined flows at once. `gate` runs when the artifact is opened.
 */
export function gatedSource(inner: ArtifactSource, gate: (name: string) => Promise<unknown> | undefined): ArtifactSource {
  return {
    ...inner,
    open(name) {
      const ready = gate(name);
      if (!ready) return inner.open(name);
      const out = new PassThrough();
      ready.then(
        () => forward(inner.open(name), out),
        (error: Error) => out.destroy(error),
      );
      return out;
    },
  };
}

/** A stream that lets `bytesPerSecond` through: a slow upload or a slow download. */
function throttle(bytesPerSecond: number): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      setTimeout(() => callback(null, chunk), (chunk.length / bytesPerSecond) * 1000);
    },
  });
}

/** `from` piped into `to`, and `from`'s failure made `to`'s (pipe alone would leave `to` open). */
function forward<T extends NodeJS.WritableStream & { destroy(error?: Error): unknown }>(from: Readable, to: T): T {
  from.on('error', (error) => to.destroy(error));
  return from.pipe(to);
}

export function throttledSink(inner: ArtifactSink, bytesPerSecond: number): ArtifactSink {
  return { backupId: inner.backupId, write: (name, body, options) => inner.write(name, forward(body, throttle(bytesPerSecond)), options) };
}

export function throttledSource(inner: ArtifactSource, bytesPerSecond: number): ArtifactSource {
  return { ...inner, open: (name) => forward(inner.open(name), throttle(bytesPerSecond)) };
}
