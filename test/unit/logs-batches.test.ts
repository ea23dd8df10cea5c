/**
 * Restoring into a log group: the batches stay within PutLogEvents' limits at their exact edges (10,000
 * events, 1,048,576 bytes counted as UTF-8 message bytes plus 26 per event, less than 24 hours, in
 * timestamp order), nothing is reordered or lost, and a range is written to a group only when every event
 * of it is still accepted (not older than 14 days or the group's retention, not 2 hours ahead).
 */
import { InvalidInputError } from '../../functions/core/errors';
import { acceptance, eventBytes, putLogEventsBatches, PUT_LOG_EVENTS_LIMITS, type Batch, type InputLogEvent } from '../../functions/components/logs/putlog-batches';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../../functions/components/logs/windows';
import { rejection } from '../support/thrown';

const T = Date.parse('2026-11-30T00:00:00.000Z');
const MAX = PUT_LOG_EVENTS_LIMITS.maxBytes;

async function batchesOf(events: Iterable<InputLogEvent>): Promise<Batch<InputLogEvent>[]> {
  const out: Batch<InputLogEvent>[] = [];
  for await (const b of putLogEventsBatches(events)) out.push(b);
  return out;
}

const sizes = (batches: Batch<InputLogEvent>[]) => batches.map((b) => b.events.length);
const flat = (batches: Batch<InputLogEvent>[]) => batches.flatMap((b) => b.events);

describe('PutLogEvents batches', () => {
  test('10,000 events make one batch, 10,001 two', async () => {
    const events = (n: number) => Array.from({ length: n }, (_, i) => ({ timestamp: T + i, message: 'm' }));
    expect(sizes(await batchesOf(events(10_000)))).toEqual([10_000]);
    expect(sizes(await batchesOf(events(10_001)))).toEqual([10_000, 1]);
  });

  test('a batch of exactly 1,048,576 bytes (UTF-8 message bytes + 26 each) is one batch; one byte more starts another', async () => {
    // Four events: three of 262,144 counted bytes, the last filling to the byte. "é" is 2 UTF-8 bytes.
    const quarter = 262_144 - 26;
    const exact = [
      { timestamp: T, message: 'a'.repeat(quarter) },
      { timestamp: T + 1, message: 'é'.repeat(quarter / 2) },
      { timestamp: T + 2, message: `${'🚀'.repeat(Math.floor(quarter / 4))}${'a'.repeat(quarter % 4)}` }, // 4 bytes each, then the rest
      { timestamp: T + 3, message: 'a'.repeat(quarter) },
    ];
    const one = await batchesOf(exact);
    expect(one.map((b) => b.bytes)).toEqual([MAX]);
    const over = [...exact.slice(0, 3), { timestamp: T + 3, message: 'a'.repeat(quarter + 1) }];
    const two = await batchesOf(over);
    expect(sizes(two)).toEqual([3, 1]);
    expect(two.every((b) => b.bytes <= MAX)).toBe(true);
    expect(eventBytes({ timestamp: T, message: '日本' })).toBe(6 + 26);
  });

  test('a batch spans less than 24 hours: 24 hours less a millisecond is one batch, 24 hours two', async () => {
    expect(sizes(await batchesOf([{ timestamp: T, message: 'a' }, { timestamp: T + DAY_MS - 1, message: 'b' }]))).toEqual([2]);
    expect(sizes(await batchesOf([{ timestamp: T, message: 'a' }, { timestamp: T + DAY_MS, message: 'b' }]))).toEqual([1, 1]);
  });

  test('events out of timestamp order start a new batch, so every batch is chronological and nothing is reordered or lost', async () => {
    const events = [5, 6, 6, 3, 4, 9, 1].map((s, i) => ({ timestamp: T + s * 1000, message: `e${i}` }));
    const batches = await batchesOf(events);
    expect(sizes(batches)).toEqual([3, 3, 1]);
    expect(flat(batches)).toEqual(events);
    for (const b of batches) for (let i = 1; i < b.events.length; i++) expect(b.events[i].timestamp).toBeGreaterThanOrEqual(b.events[i - 1].timestamp);
  });

  test('an event no batch can hold, or one with an empty message, is refused naming it', async () => {
    const big = await rejection(batchesOf([{ timestamp: T, message: 'a'.repeat(MAX - 25) }]));
    expect(big).toBeInstanceOf(InvalidInputError);
    expect(big.message).toContain(`event 1 (2026-11-30T00:00:00.000Z) counts ${MAX + 1} bytes`);
    expect((await batchesOf([{ timestamp: T, message: 'a'.repeat(MAX - 26) }])).map((b) => b.bytes)).toEqual([MAX]);
    expect((await rejection(batchesOf([{ timestamp: T, message: 'a' }, { timestamp: T, message: '' }]))).message).toContain('event 2 (2026-11-30T00:00:00.000Z) has no message');
  });
});

describe('whether a log group still accepts a range', () => {
  const now = T;

  test('accepted within 14 days (less the restore margin) and up to 2 hours ahead', () => {
    expect(acceptance({ firstTimestamp: now - 14 * DAY_MS + HOUR_MS, lastTimestamp: now + 2 * HOUR_MS }, now)).toEqual({ accepted: true });
    expect(acceptance({}, now)).toEqual({ accepted: true });
  });

  test('refused, saying why, when the oldest event is past 14 days, or past the target group retention, or the newest too far ahead', () => {
    const old = acceptance({ firstTimestamp: now - 14 * DAY_MS + HOUR_MS - 1, lastTimestamp: now }, now);
    expect(old).toEqual({ accepted: false, reason: expect.stringContaining('older than the 14 days PutLogEvents accepts') });
    const retention = acceptance({ firstTimestamp: now - 2 * DAY_MS, lastTimestamp: now }, now, { retentionDays: 1 });
    expect(retention).toEqual({ accepted: false, reason: expect.stringContaining("the target group's retention (1 days)") });
    const ahead = acceptance({ firstTimestamp: now, lastTimestamp: now + 2 * HOUR_MS + 1 }, now);
    expect(ahead).toEqual({ accepted: false, reason: expect.stringContaining('more than 2 hours ahead') });
    expect(acceptance({ firstTimestamp: now - 14 * DAY_MS + 10 * MINUTE_MS, lastTimestamp: now }, now, {}, { marginMs: 5 * MINUTE_MS })).toEqual({ accepted: true });
  });
});
