/**
 * Artifact names for log groups and metric sets. A log group name (`/aws/lambda/neuroca-api`) may hold
 * `/`, `#`, unicode and up to 512 characters, and two groups may differ only in case; an artifact name is
 * one path segment of `[A-Za-z0-9._-]`, at most 201 characters (core/manifest.ts isArtifactName). So the
 * name is a readable slug of the source, for operators listing a backup, plus a hash of the exact source
 * name, for uniqueness: `events-aws-lambda-neuroca-api-1f3a9c0b7d2e.jsonl.gz`. The manifest records the real
 * name beside it; a restore recomputes the artifact name from that and refuses a manifest where they differ.
 */
import { createHash } from 'node:crypto';
import { IntegrityError } from '../../core/errors';
import { isArtifactName } from '../../core/manifest';

export type ArtifactKind = 'events' | 'metrics';

const SLUG_CHARS = 120;
const HASH_CHARS = 12;
export const ARTIFACT_SUFFIX = '.jsonl.gz';

/** The readable part: ASCII letters and digits of the name (accents dropped), runs of anything else as one `-`. */
function slug(name: string): string {
  const ascii = name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  const s = ascii.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, SLUG_CHARS).replace(/-+$/, '');
  return s === '' ? 'x' : s;
}

/** The artifact of one source in a backup: deterministic, unique per (kind, exact name), a valid artifact name. */
export function artifactName(kind: ArtifactKind, source: string): string {
  const hash = createHash('sha256').update(`${kind}\0${source}`, 'utf8').digest('hex').slice(0, HASH_CHARS);
  return `${kind}-${slug(source)}-${hash}${ARTIFACT_SUFFIX}`;
}

/**
 * Artifact names for all sources of a backup, keyed by source. 48 bits of hash make a collision between
 * two configured names practically impossible; it is still checked, because two sources writing one
 * artifact would lose one silently.
 */
export function artifactNames(kind: ArtifactKind, sources: readonly string[]): Map<string, string> {
  const names = new Map<string, string>();
  const taken = new Map<string, string>();
  for (const source of sources) {
    const name = artifactName(kind, source);
    const other = taken.get(name);
    if (other !== undefined && other !== source) throw new IntegrityError(`the sources ${JSON.stringify(other)} and ${JSON.stringify(source)} map to one artifact name ${name}.`, { component: 'logs', hint: 'This is a defect of nca-backup: report it with both names.' });
    if (!isArtifactName(name)) throw new IntegrityError(`the artifact name ${name} of ${JSON.stringify(source)} is not a plain file name.`, { component: 'logs' });
    taken.set(name, source);
    names.set(source, name);
  }
  return names;
}

/** Whether a manifest's (source, artifact) pair is one this code writes: a tampered manifest cannot point a source at another's file. */
export function isArtifactOf(kind: ArtifactKind, source: string, artifact: string): boolean {
  return artifactName(kind, source) === artifact;
}
