/**
 * The report of `verify logs` over members judged by the catalog: an overlap named with the backups on
 * both sides; a gap left by an untrusted manifest, naming it as the backup that may have held it; a
 * trusted manifest whose record of its windows does not check counted as damaged; and the failure's
 * message naming the first break.
 */
import { chainBroken, chainReport, trustedMember, type ChainMember } from '../../functions/components/logs/chain-report';
import { artifactName } from '../../functions/components/logs/artifact-names';
import type { WindowRecord } from '../../functions/components/logs/manifest-windows';
import type { ArtifactSource } from '../../functions/components/types';
import { IntegrityError } from '../../functions/core/errors';

const APP = '/neuroca/app';
const T0 = Date.parse('2026-11-20T01:00:00.000Z');
const HOUR = 3_600_000;
const at = (hours: number) => T0 + hours * HOUR;
const iso = (hours: number) => new Date(at(hours)).toISOString();

function window(from: number, to: number, count = 1): WindowRecord {
  return { source: APP, kind: 'log-group', start: at(from), end: at(to), basis: 'ingestion-time', first: from === 0, artifact: artifactName('events', APP), count, bytes: 100 * count };
}

const trusted = (backupId: string, ...windows: WindowRecord[]): ChainMember => ({ backupId, status: 'trusted', windows });

describe('chainReport', () => {
  test('an overlap between two trusted backups is named with its span and both backups, and fails the chain', () => {
    const report = chainReport([trusted('20261121T010000Z-b002', window(24, 48, 3)), trusted('20261120T010000Z-b001', window(0, 30, 2))]);

    expect(report.whole).toBe(false);
    expect(report.backups.map((b) => b.backupId)).toEqual(['20261120T010000Z-b001', '20261121T010000Z-b002']);
    expect(report.sources).toEqual([
      { source: APP, kind: 'log-group', firstStart: iso(0), lastEnd: iso(48), windows: 2, events: 5, bytes: 500, gaps: [], overlaps: [{ from: iso(24), to: iso(30), after: '20261120T010000Z-b001', before: '20261121T010000Z-b002' }] },
    ]);
    const error = chainBroken(report);
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error?.message).toContain(`the first: an overlap in "${APP}" from ${iso(24)} to ${iso(30)} between backups 20261120T010000Z-b001 and 20261121T010000Z-b002`);
    expect(error?.result).toBe(report);
  });

  test('an untrusted manifest between two trusted ones: its gap names it as the backup that cannot be used', () => {
    const report = chainReport([
      trusted('20261120T010000Z-b001', window(0, 24)),
      { backupId: '20261121T010000Z-b002', status: 'untrusted', problem: 'its MAC does not verify', key: 's3://vault/logs/logs/20261121T010000Z-b002/manifest.json' },
      trusted('20261122T010000Z-b003', window(48, 72)),
    ]);

    expect(report.sources[0].gaps).toEqual([{ from: iso(24), to: iso(48), after: '20261120T010000Z-b001', before: '20261122T010000Z-b003', unusableBetween: ['20261121T010000Z-b002'] }]);
    expect(report.breaks).toEqual({ gaps: 1, overlaps: 0, unusableManifests: 1, damagedArtifacts: 0 });
    expect(chainBroken(report)?.message).toContain('events ingested then are in no backup (or in 20261121T010000Z-b002, which cannot be used)');
  });

  test('a chain whose windows meet, every manifest trusted, is whole and does not fail', () => {
    const report = chainReport([trusted('20261120T010000Z-b001', window(0, 24)), trusted('20261121T010000Z-b002', window(24, 48))]);
    expect(report.whole).toBe(true);
    expect(chainBroken(report)).toBeUndefined();
  });
});

describe('trustedMember', () => {
  test('a trusted manifest whose windows name an artifact it does not list is damaged, with the reason', () => {
    const source = { artifacts: [], open: () => undefined, backup: { backupId: '20261120T010000Z-b001', fingerprint: {}, source: { serverVersion: 'cloudwatch-jsonl-1', serverMajor: 1, windows: [window(0, 24)] } } } as unknown as ArtifactSource;

    const member = trustedMember(source);

    expect(member).toEqual({ backupId: '20261120T010000Z-b001', status: 'damaged', problem: expect.stringContaining('which the manifest does not list') });
    expect(chainBroken(chainReport([member]))?.message).toContain("backup 20261120T010000Z-b001's manifest is damaged");
  });
});
