/**
 * The configuration's fingerprint: per store, how many items and a SHA-256 over them in name order, each
 * item as its name, type, the SHA-256 of its value's bytes, its KMS key id and its tags. Versions, times
 * and stages are left out (a restore writes new versions), so a faithful restore matches; a changed,
 * missing or extra item, a value, a key or a tag changed, does not. Values appear only as digests: the
 * fingerprint goes into the manifest.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../core/canonical-json';
import type { Fingerprint } from '../types';
import { SECTIONS, sortItems } from './format';
import { ITEM_KINDS, type ConfigItem } from './item';

const valueBytes = (item: ConfigItem) => Buffer.from(item.value, item.encoding === 'base64' ? 'base64' : 'utf8');

export function fingerprintItems(items: readonly ConfigItem[]): Fingerprint {
  const fingerprint: Fingerprint = {};
  const sorted = sortItems(items);
  for (const kind of ITEM_KINDS) {
    const hash = createHash('sha256').update(`nca-config-fingerprint-v1:${kind}\n`);
    let count = 0;
    for (const item of sorted) {
      if (item.kind !== kind) continue;
      const value = createHash('sha256').update(valueBytes(item)).digest('hex');
      hash.update(`${canonicalJson({ name: item.name, type: item.type, value, kmsKeyId: item.kmsKeyId, tags: item.tags ?? {} })}\n`);
      count++;
    }
    fingerprint[SECTIONS[kind]] = { count, digest: hash.digest('hex') };
  }
  return fingerprint;
}
