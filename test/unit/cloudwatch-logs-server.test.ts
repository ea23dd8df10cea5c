/**
 * The CloudWatch Logs substitute through @aws-sdk/client-cloudwatch-logs (JSON 1.1, signed requests): log
 * groups and their listing, PutLogEvents' limits and rejections against the server's clock, FilterLogEvents
 * and GetLogEvents read to their documented end conditions the way a client loops, events that arrive late
 * (ingestion time well after their timestamp), and throttling retried by the SDK.
 */
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DeleteLogGroupCommand,
  DescribeLogGroupsCommand,
  DescribeLogStreamsCommand,
  FilterLogEventsCommand,
  GetLogEventsCommand,
  PutLogEventsCommand,
  PutRetentionPolicyCommand,
  type FilterLogEventsCommandInput,
  type FilteredLogEvent,
  type InputLogEvent,
  type OutputLogEvent,
} from '@aws-sdk/client-cloudwatch-logs';
import { startCloudWatchLogsServer, type CloudWatchLogsServer } from '../support/cloudwatch-logs-server';
import { rejection } from '../support/thrown';

const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

let server: CloudWatchLogsServer;
let logs: CloudWatchLogsClient;
let groupCount = 0;

const clientFor = (endpoint: string, maxAttempts = 3) =>
  new CloudWatchLogsClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' }, maxAttempts });

beforeAll(async () => {
  server = await startCloudWatchLogsServer();
  logs = clientFor(server.endpoint);
});
beforeEach(() => server.clock.set(NOW));
afterAll(async () => {
  logs.destroy();
  await server.stop();
});

/** A fresh group with one stream `app`. */
async function newGroup(retentionInDays?: number): Promise<string> {
  const name = `/nca/test-${++groupCount}`;
  await logs.send(new CreateLogGroupCommand({ logGroupName: name }));
  if (retentionInDays) await logs.send(new PutRetentionPolicyCommand({ logGroupName: name, retentionInDays }));
  await logs.send(new CreateLogStreamCommand({ logGroupName: name, logStreamName: 'app' }));
  return name;
}

const put = (logGroupName: string, logEvents: InputLogEvent[], logStreamName = 'app') => logs.send(new PutLogEventsCommand({ logGroupName, logStreamName, logEvents }));
const at = (timestamp: number, message = `event at ${timestamp}`): InputLogEvent => ({ timestamp, message });

/** Every event FilterLogEvents lists, page after page until a page has no nextToken. */
async function filterAll(input: FilterLogEventsCommandInput, client = logs): Promise<{ events: FilteredLogEvent[]; pages: number }> {
  const events: FilteredLogEvent[] = [];
  let pages = 0;
  let nextToken: string | undefined;
  do {
    const page = await client.send(new FilterLogEventsCommand({ ...input, nextToken }));
    pages++;
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return { events, pages };
}

/** Every event of a stream from the head, until GetLogEvents answers the forward token it was given. */
async function readStream(logGroupName: string, logStreamName: string, range: { startTime?: number; endTime?: number; limit?: number } = {}) {
  const events: OutputLogEvent[] = [];
  let calls = 0;
  let token: string | undefined;
  for (;;) {
    const page = await logs.send(new GetLogEventsCommand({ logGroupName, logStreamName, startFromHead: true, nextToken: token, ...range }));
    calls++;
    events.push(...(page.events ?? []));
    if (page.nextForwardToken === token) return { events, calls };
    token = page.nextForwardToken;
  }
}

describe('log groups', () => {
  test('created once, listed by prefix page by page with their ARN, creation time, retention and stored bytes; deleted', async () => {
    for (const name of ['/svc/a', '/svc/b', '/svc/c', '/other/x']) await logs.send(new CreateLogGroupCommand({ logGroupName: name }));
    await logs.send(new PutRetentionPolicyCommand({ logGroupName: '/svc/b', retentionInDays: 90 }));
    server.putEvents('/svc/b', 's', [{ timestamp: NOW, message: 'héllo' }]);
    expect(await rejection(logs.send(new CreateLogGroupCommand({ logGroupName: '/svc/a' })))).toMatchObject({ name: 'ResourceAlreadyExistsException', message: 'The specified log group already exists' });

    const names: string[] = [];
    const first = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/svc/', limit: 2 }));
    let token = first.nextToken;
    names.push(...first.logGroups!.map((g) => g.logGroupName!));
    while (token) {
      const next = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/svc/', limit: 2, nextToken: token }));
      names.push(...next.logGroups!.map((g) => g.logGroupName!));
      token = next.nextToken;
    }
    expect(names).toEqual(['/svc/a', '/svc/b', '/svc/c']);
    const b = (await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/svc/b' }))).logGroups![0];
    expect(b).toMatchObject({ arn: 'arn:aws:logs:us-east-1:000000000000:log-group:/svc/b:*', logGroupArn: 'arn:aws:logs:us-east-1:000000000000:log-group:/svc/b', creationTime: NOW, retentionInDays: 90, storedBytes: 6 });

    await logs.send(new DeleteLogGroupCommand({ logGroupName: '/svc/c' }));
    await expect(logs.send(new DeleteLogGroupCommand({ logGroupName: '/svc/c' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect((await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/svc/' }))).logGroups!.map((g) => g.logGroupName)).toEqual(['/svc/a', '/svc/b']);
  });

  test('a retention the service does not offer, a malformed name and a stream in a missing group are refused', async () => {
    const name = await newGroup();
    await expect(logs.send(new PutRetentionPolicyCommand({ logGroupName: name, retentionInDays: 2 }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
    await expect(logs.send(new CreateLogGroupCommand({ logGroupName: 'bad name' }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
    await expect(logs.send(new CreateLogStreamCommand({ logGroupName: '/nca/missing', logStreamName: 's' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(logs.send(new CreateLogStreamCommand({ logGroupName: name, logStreamName: 'app' }))).rejects.toMatchObject({ name: 'ResourceAlreadyExistsException' });
    const streams = await logs.send(new DescribeLogStreamsCommand({ logGroupName: name }));
    expect(streams.logStreams!.map((s) => s.logStreamName)).toEqual(['app']);
  });
});

describe('PutLogEvents', () => {
  test('accepted events get the server clock as ingestion time; no sequence token is needed or returned', async () => {
    const name = await newGroup();
    const answer = await logs.send(new PutLogEventsCommand({ logGroupName: name, logStreamName: 'app', logEvents: [at(NOW - MINUTE), at(NOW)], sequenceToken: 'stale' }));
    expect(answer.rejectedLogEventsInfo).toBeUndefined();
    expect(answer.nextSequenceToken).toBeUndefined();
    expect(server.eventsOf(name).map((e) => [e.timestamp, e.ingestionTime])).toEqual([
      [NOW - MINUTE, NOW],
      [NOW, NOW],
    ]);
  });

  test('10,000 events and 1,048,576 bytes (message UTF-8 bytes + 26 each) pass; one more event or byte fails the whole batch', async () => {
    const name = await newGroup();
    const many = (n: number) => Array.from({ length: n }, () => at(NOW, 'x'));
    await put(name, many(10_000));
    expect(await rejection(put(name, many(10_001)))).toMatchObject({ name: 'InvalidParameterException' });

    // Two events: 26 + 26 bytes of overhead, the rest message bytes; 'é' is two bytes in UTF-8.
    const room = 1_048_576 - 2 * 26;
    const full = [at(NOW, 'a'.repeat(room / 2)), at(NOW, 'é'.repeat(room / 4))];
    await put(name, full);
    const over = [at(NOW, 'a'.repeat(room / 2)), at(NOW, 'é'.repeat(room / 4) + 'a')];
    expect(await rejection(put(name, over))).toMatchObject({ name: 'InvalidParameterException', message: 'Upload too large: 1048577 bytes exceeds limit of 1048576' });
    expect(await rejection(put(name, [at(NOW, 'a'.repeat(1_048_576 - 25))]))).toMatchObject({ message: 'Log event too large: 1048577 bytes exceeds limit of 1048576' });
    expect(server.eventsOf(name)).toHaveLength(10_002);
  });

  test('events out of chronological order fail the batch; so do valid events spanning more than 24 hours', async () => {
    const name = await newGroup();
    expect(await rejection(put(name, [at(NOW), at(NOW - 1)]))).toMatchObject({ name: 'InvalidParameterException', message: 'Log events in a single PutLogEvents request must be in chronological order.' });
    await put(name, [at(NOW - DAY), at(NOW)]);
    expect(await rejection(put(name, [at(NOW - DAY - 1), at(NOW)]))).toMatchObject({ message: 'The batch of log events in a single PutLogEvents request cannot span more than 24 hours.' });
    expect(server.eventsOf(name)).toHaveLength(2);
  });

  test('events over 14 days old or more than 2 hours ahead are rejected by index while the rest are kept', async () => {
    const name = await newGroup();
    const batch = [at(NOW - 15 * DAY), at(NOW - 14 * DAY - 1), at(NOW - 14 * DAY), at(NOW + 2 * HOUR), at(NOW + 2 * HOUR + 1), at(NOW + 3 * HOUR)];
    // The kept events (14 days ago and 2 hours ahead) span more than a day: rejected as a whole.
    await expect(put(name, batch)).rejects.toMatchObject({ message: expect.stringContaining('cannot span more than 24 hours') });

    server.clock.set(NOW);
    const answer = await put(name, [at(NOW - 15 * DAY), at(NOW - 14 * DAY - 1), at(NOW - 2 * HOUR), at(NOW + 2 * HOUR), at(NOW + 2 * HOUR + 1), at(NOW + 3 * HOUR)]);
    expect(answer.rejectedLogEventsInfo).toEqual({ tooOldLogEventEndIndex: 2, tooNewLogEventStartIndex: 4 });
    expect(server.eventsOf(name).map((e) => e.timestamp)).toEqual([NOW - 2 * HOUR, NOW + 2 * HOUR]);
  });

  test("events before the group's retention period are reported as expired", async () => {
    const name = await newGroup(1);
    const answer = await put(name, [at(NOW - DAY - 1), at(NOW - DAY), at(NOW)]);
    expect(answer.rejectedLogEventsInfo).toEqual({ expiredLogEventEndIndex: 1 });
    expect(server.eventsOf(name).map((e) => e.timestamp)).toEqual([NOW - DAY, NOW]);
  });

  test('a missing group or stream is ResourceNotFoundException', async () => {
    const name = await newGroup();
    expect(await rejection(put('/nca/missing', [at(NOW)]))).toMatchObject({ name: 'ResourceNotFoundException', message: 'The specified log group does not exist.' });
    expect(await rejection(put(name, [at(NOW)], 'missing'))).toMatchObject({ name: 'ResourceNotFoundException', message: 'The specified log stream does not exist.' });
  });
});

describe('FilterLogEvents', () => {
  test('streams interleaved by timestamp, startTime and endTime both inclusive, every event once over the pages', async () => {
    const name = await newGroup();
    await logs.send(new CreateLogStreamCommand({ logGroupName: name, logStreamName: 'worker' }));
    const times = Array.from({ length: 25 }, (_, i) => NOW - 25 * MINUTE + i * MINUTE);
    await put(name, times.filter((_, i) => i % 2 === 0).map((t) => at(t)));
    await put(name, times.filter((_, i) => i % 2 === 1).map((t) => at(t)), 'worker');

    const { events, pages } = await filterAll({ logGroupName: name, startTime: times[5], endTime: times[20], limit: 4 });
    expect(events.map((e) => e.timestamp)).toEqual(times.slice(5, 21));
    expect(pages).toBe(4);
    expect(events.map((e) => e.logStreamName).slice(0, 2)).toEqual(['worker', 'app']);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
    expect(events[0]).toEqual({ logStreamName: 'worker', timestamp: times[5], message: `event at ${times[5]}`, ingestionTime: NOW, eventId: expect.any(String) });

    const arn = `arn:aws:logs:us-east-1:000000000000:log-group:${name}:*`;
    expect((await filterAll({ logGroupIdentifier: arn, logStreamNames: ['app'] })).events).toHaveLength(13);
    await expect(logs.send(new FilterLogEventsCommand({ logGroupName: name, logGroupIdentifier: name }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
    await expect(logs.send(new FilterLogEventsCommand({ logGroupName: name, logStreamNames: ['app'], logStreamNamePrefix: 'a' }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
    await expect(logs.send(new FilterLogEventsCommand({ logGroupName: '/nca/missing' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  test('startFromHead false lists newest first, and only from a startTime in 2024 or later', async () => {
    const name = await newGroup();
    await put(name, [at(NOW - 2), at(NOW - 1), at(NOW)]);
    const { events } = await filterAll({ logGroupName: name, startTime: NOW - HOUR, startFromHead: false, limit: 2 });
    expect(events.map((e) => e.timestamp)).toEqual([NOW, NOW - 1, NOW - 2]);
    await expect(logs.send(new FilterLogEventsCommand({ logGroupName: name, startTime: Date.UTC(2023, 11, 31), startFromHead: false }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
  });

  test('a late event (ingested hours after its timestamp) is listed by its timestamp, with its ingestion time', async () => {
    const name = await newGroup();
    await put(name, [at(NOW - 3 * HOUR, 'on time'), at(NOW - HOUR, 'later on time')]);
    server.clock.advance(2 * HOUR);
    server.putEvents(name, 'app', [{ timestamp: NOW - 2 * HOUR, message: 'late' }]);
    const { events } = await filterAll({ logGroupName: name, startTime: NOW - 4 * HOUR, endTime: NOW });
    expect(events.map((e) => [e.message, e.ingestionTime])).toEqual([
      ['on time', NOW],
      ['late', NOW + 2 * HOUR],
      ['later on time', NOW],
    ]);
    // A window by ingestion time picks out exactly what arrived after the first read.
    expect(events.filter((e) => e.ingestionTime! > NOW).map((e) => e.message)).toEqual(['late']);
  });

  test('a listing continues after the last event it returned: an event arriving mid-listing with an earlier timestamp is not in it', async () => {
    const name = await newGroup();
    await put(name, [at(NOW - 3, 'a'), at(NOW - 1, 'c')]);
    const first = await logs.send(new FilterLogEventsCommand({ logGroupName: name, limit: 1 }));
    expect(first.events!.map((e) => e.message)).toEqual(['a']);
    server.clock.advance(MINUTE);
    await put(name, [at(NOW - 4, 'late, before the cursor'), at(NOW - 2, 'late, after the cursor')]);
    const rest = await logs.send(new FilterLogEventsCommand({ logGroupName: name, nextToken: first.nextToken }));
    expect(rest.events!.map((e) => e.message)).toEqual(['late, after the cursor', 'c']);
    expect(rest.nextToken).toBeUndefined();
  });

  test('a nextToken that is not one of its own is InvalidParameterException', async () => {
    const name = await newGroup();
    await expect(logs.send(new FilterLogEventsCommand({ logGroupName: name, nextToken: 'forged' }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
    await expect(logs.send(new GetLogEventsCommand({ logGroupName: name, logStreamName: 'app', nextToken: 'f/forged', startFromHead: true }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
  });

  test('pages may be empty or short while a nextToken is answered; only its absence ends the listing', async () => {
    const quirky = await startCloudWatchLogsServer({ pages: { maxEvents: 3, emptyFirst: 2 } });
    const client = clientFor(quirky.endpoint);
    try {
      quirky.putEvents('/nca/quirky', 's', Array.from({ length: 7 }, (_, i) => ({ timestamp: NOW + i, message: `m${i}` })));
      const first = await client.send(new FilterLogEventsCommand({ logGroupName: '/nca/quirky' }));
      expect(first).toMatchObject({ events: [], nextToken: expect.any(String) });
      const { events, pages } = await filterAll({ logGroupName: '/nca/quirky' }, client);
      expect(events.map((e) => e.message)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6']);
      expect(pages).toBe(2 + 3);
    } finally {
      client.destroy();
      await quirky.stop();
    }
  });

  test('a page holds at most 1 MB of events', async () => {
    const name = await newGroup();
    const big = 'b'.repeat(400_000);
    await put(name, [at(NOW, big), at(NOW + 1, big)]);
    await put(name, [at(NOW + 2, big)]);
    const first = await logs.send(new FilterLogEventsCommand({ logGroupName: name }));
    expect(first.events).toHaveLength(2);
    expect((await filterAll({ logGroupName: name })).events).toHaveLength(3);
  });
});

describe('GetLogEvents', () => {
  test('read from the head until the forward token comes back unchanged; startTime inclusive, endTime exclusive', async () => {
    const name = await newGroup();
    const times = Array.from({ length: 10 }, (_, i) => NOW - 10 * MINUTE + i * MINUTE);
    await put(name, times.map((t) => at(t)));

    const all = await readStream(name, 'app', { limit: 3 });
    expect(all.events.map((e) => e.timestamp)).toEqual(times);
    expect(all.calls).toBe(5); // 3 + 3 + 3 + 1, then the call that answers the same token
    const range = await readStream(name, 'app', { startTime: times[2], endTime: times[6] });
    expect(range.events.map((e) => e.timestamp)).toEqual(times.slice(2, 6));

    // Events put after the end was reached are read by continuing from that same token.
    const end = await logs.send(new GetLogEventsCommand({ logGroupName: name, logStreamName: 'app', startFromHead: true }));
    const after = await logs.send(new GetLogEventsCommand({ logGroupName: name, logStreamName: 'app', startFromHead: true, nextToken: end.nextForwardToken }));
    expect(after.events).toEqual([]);
    expect(after.nextForwardToken).toBe(end.nextForwardToken);
    await put(name, [at(NOW + MINUTE, 'new')]);
    const more = await logs.send(new GetLogEventsCommand({ logGroupName: name, logStreamName: 'app', startFromHead: true, nextToken: end.nextForwardToken }));
    expect(more.events!.map((e) => e.message)).toEqual(['new']);
  });

  test('without startFromHead the newest page comes first and the backward token walks to the head', async () => {
    const name = await newGroup();
    await put(name, Array.from({ length: 5 }, (_, i) => at(NOW + i, `m${i}`)));
    const newest = await logs.send(new GetLogEventsCommand({ logGroupName: name, logStreamName: 'app', limit: 2 }));
    expect(newest.events!.map((e) => e.message)).toEqual(['m3', 'm4']);
    const seen = [...newest.events!.map((e) => e.message!)];
    let token = newest.nextBackwardToken;
    for (;;) {
      const page = await logs.send(new GetLogEventsCommand({ logGroupName: name, logStreamName: 'app', limit: 2, nextToken: token }));
      seen.unshift(...page.events!.map((e) => e.message!));
      if (page.nextBackwardToken === token) break;
      token = page.nextBackwardToken;
    }
    expect(seen).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    await expect(logs.send(new GetLogEventsCommand({ logGroupName: name, logStreamName: 'app', nextToken: newest.nextForwardToken }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
    await expect(logs.send(new GetLogEventsCommand({ logGroupName: name, logStreamName: 'nope' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });
});

describe('faults', () => {
  test("ThrottlingException is retried by the SDK's standard retry; past its attempts the error reaches the caller", async () => {
    const name = await newGroup();
    server.failNext(2);
    await put(name, [at(NOW)]);
    expect(server.eventsOf(name)).toHaveLength(1);

    server.failNext(3);
    expect(await rejection(logs.send(new FilterLogEventsCommand({ logGroupName: name })))).toMatchObject({ name: 'ThrottlingException', $metadata: { attempts: 3 } });
    expect(server.calls.slice(-3).map((c) => c.operation)).toEqual(['FilterLogEvents', 'FilterLogEvents', 'FilterLogEvents']);
    expect(server.calls.every((c) => c.signed)).toBe(true);
  });
});
