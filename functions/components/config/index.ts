/**
 * The configuration component (issue 11, in progress: not in the registry until its connection, its
 * workflow and its grants exist). A backup reads every configured store (read.ts), writes one export
 * (format.ts), seals it under the backup's encryption context (envelope.ts) and stores that, so the export
 * is encrypted twice. A restore opens the export of the backup named, plans against what the stores hold
 * now (plan.ts), and writes (apply.ts) only when asked with apply: true.
 */
import { Readable } from 'node:stream';
import { BackupNotFoundError, InvalidInputError } from '../../core/errors';
import { setting } from '../../../config/environment';
import { createKmsDataKeyClient } from '../../core/kms';
import type { ConfigTarget } from './target';
import type { ArtifactSource, Component, ComponentEntry, ComponentRestoreResult, RestoreTargetOptions, RestoreVerification, SourceInfo } from '../types';
import { applyPlan } from './apply';
import { createConfigClients } from './clients';
import type { ConfigSourceConfig } from './descriptor';
import { envelopeContext, open, seal } from './envelope';
import { fingerprintItems } from './fingerprint';
import { readExport, writeExport } from './format';
import type { ConfigItem } from './item';
import { parseConfigRestoreOptions, type ConfigRestoreOptions } from './options';
import { planRestore, type RestorePlan } from './plan';
import { readConfiguration } from './read';
import { COPY_PREFIX, copyName, currentItems, dropConfigCopy } from './drill';
import { noCapacityLimit } from '../room';

const COMPONENT = 'config';
export const SEALED_EXPORT_CONTENT_TYPE = 'application/vnd.nca-backup.sealed-config+yaml';
/** A configuration export is kilobytes to a few megabytes; more than this is not one. */
const MAX_EXPORT_BYTES = 256 * 1024 * 1024;

export type { ConfigTarget } from './target';

/** The options as a restore input gives them (unparsed): each use parses them, so a missing dryRun plans. */
export type ConfigComponentOptions = Partial<ConfigRestoreOptions> & { readonly dryRun?: boolean } & RestoreTargetOptions;

/** The options a restore acts on: a plan unless apply is true, whoever called. */
function resolved(options: ConfigComponentOptions): ConfigRestoreOptions {
  const { targetDatabase: _target, ...raw } = options;
  return parseConfigRestoreOptions(raw as Record<string, unknown>);
}

const describeStores = (source: ConfigSourceConfig): SourceInfo => ({
  // The stores are AWS services, not servers with versions: the export's format version stands for them.
  serverVersion: 'aws',
  serverMajor: 1,
  database: 'configuration',
  parameterPaths: source.parameterPaths,
  secrets: source.secrets,
  files: source.files.map((f) => `s3://${f.bucket}/${f.prefix}`),
});

const exportName = (at: Date) => `config_${at.toISOString().slice(0, 10).replace(/-/g, '')}.yaml.sealed`;

async function readWhole(stream: Readable, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > MAX_EXPORT_BYTES) {
      stream.destroy();
      throw new InvalidInputError(`artifact ${name} is larger than ${MAX_EXPORT_BYTES} bytes: not a configuration export.`, { component: COMPONENT });
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The backup's items, opened from its sealed export under the backup's own context (from its manifest). */
async function backupItems(source: ArtifactSource, target: ConfigTarget): Promise<ConfigItem[]> {
  const artifact = source.artifacts.find((a) => a.contentType === SEALED_EXPORT_CONTENT_TYPE);
  if (!artifact) throw new BackupNotFoundError('the backup holds no configuration export.', { component: COMPONENT, backupId: source.backup?.backupId });
  const backupId = source.backup?.backupId;
  if (!backupId) throw new InvalidInputError('a configuration export opens only with its backup id (its encryption context): none was given.', { component: COMPONENT });
  const sealed = await readWhole(source.open(artifact.name), artifact.name);
  const { header, items } = readExport(await open(sealed, { ...target.envelope, context: envelopeContext(backupId) }));
  if (header.backupId !== backupId) {
    throw new InvalidInputError(`the export inside backup ${backupId} says it is backup ${header.backupId}.`, { component: COMPONENT, backupId });
  }
  return items;
}

/**
 * The stores after an applied restore, planned again against the backup: every item the restore was to
 * write must now be unchanged, and with prune nothing may be left to prune.
 */
function verification(after: RestorePlan): RestoreVerification {
  const found = after.entries.flatMap((entry) => {
    const object = `${entry.kind}:${entry.name}`;
    if (entry.action === 'add') return [{ object, problem: 'absent after the restore' }];
    if (entry.action === 'change') return [{ object, problem: `differs after the restore (${(entry.differences ?? []).join(', ')})` }];
    if (entry.action === 'prune') return [{ object, problem: 'still present after the restore pruned it' }];
    return [];
  });
  return { differences: found, objects: after.entries.filter((entry) => entry.action !== 'keep').length };
}

export const configComponent: Component<ConfigTarget, ConfigComponentOptions> & {
  planRestore(source: ArtifactSource, target: ConfigTarget, options: ConfigComponentOptions): Promise<RestorePlan>;
} = {
  name: 'config',
  group: 'configuration',

  async describe(target) {
    return describeStores(target.source);
  },

  async estimate() {
    // Kilobytes to megabytes: always the Lambda runner. Reading the stores to measure would be the backup itself.
    return 1024 * 1024;
  },

  async backup(target, sink, log) {
    if (!sink.backupId) throw new InvalidInputError('a configuration backup seals its export under its backup id: the sink gave none.', { component: COMPONENT });
    const startedAt = new Date();
    const items = await readConfiguration(target.source, target.clients, log);
    // The export records what was read; the envelope key is in the manifest's report, not the export.
    const { envelopeKeyId: _key, ...sources } = target.source;
    const plain = writeExport({ backupId: sink.backupId, createdAt: startedAt.toISOString(), sources }, items);
    const sealed = await seal(plain, { ...target.envelope, context: envelopeContext(sink.backupId) });
    plain.fill(0);
    const record = await sink.write(exportName(startedAt), Readable.from([sealed]), { contentType: SEALED_EXPORT_CONTENT_TYPE });
    const fingerprint = fingerprintItems(items);
    const count = (kind: ConfigItem['kind']) => items.filter((item) => item.kind === kind).length;
    log.info('configuration exported', { backupId: sink.backupId, parameters: count('parameter'), secrets: count('secret'), files: count('file'), bytes: record.bytes });
    return {
      artifacts: [record],
      fingerprint,
      source: describeStores(target.source),
      consistency: { pointInTime: false, method: 'each store read in turn (Parameter Store, Secrets Manager and S3 have no shared snapshot); every item with its own version' },
      report: { parameters: count('parameter'), secrets: count('secret'), files: count('file'), envelopeKeyId: target.envelope.keyId },
    };
  },

  async fingerprint(target) {
    return fingerprintItems(await currentItems(target));
  },

  async checkCompatibility() {
    return { targetVersion: 'aws', room: noCapacityLimit('Parameter Store, Secrets Manager and S3 hold no disk or memory a restore fills') };
  },

  async targetExists(target) {
    return (await currentItems(target)).length > 0;
  },

  async planRestore(source, target, raw) {
    const backup = await backupItems(source, target);
    return planRestore(backup, await currentItems(target), target.source, resolved(raw));
  },

  async restore(source, target, raw, log): Promise<ComponentRestoreResult> {
    const options = resolved(raw);
    const backup = await backupItems(source, target);
    const plan = planRestore(backup, await currentItems(target, log), target.source, options);
    if (!options.apply) {
      log.info('configuration restore planned; nothing written (apply: true writes)', { ...plan.summary });
      return { target: 'configuration', replacedExisting: false, details: { applied: false, plan } };
    }
    const { copy } = target;
    // A copy: the same plan, every name written below the copy's prefix.
    const applied = copy === undefined
      ? await applyPlan(plan, backup, target.clients, log)
      : await applyPlan(
          { ...plan, entries: plan.entries.map((entry) => ({ ...entry, name: copyName(entry.kind, entry.name, copy) })) },
          backup.map((item) => ({ ...item, name: copyName(item.kind, item.name, copy) })),
          target.clients,
          log,
        );
    return { target: copy ?? 'configuration', replacedExisting: true, details: { applied: true, plan, written: applied.written } };
  },

  async verifyRestore(_expected, source, target, raw, log) {
    const options = resolved(raw);
    if (!options.apply) return { differences: [], objects: 0, details: { applied: false, verified: 'a plan: nothing was written' } };
    const backup = await backupItems(source, target);
    return verification(planRestore(backup, await currentItems(target, log), target.source, options));
  },

  /** Only a copy (a drill's sandbox): every item under its prefix deleted. */
  dropTarget: (target) => dropConfigCopy(target),
};

/** The only "database" a configuration restore writes to: the configured stores themselves. */
const CONFIGURATION = 'configuration';

export const configEntry: ComponentEntry<ConfigTarget, ConfigComponentOptions, 'config'> = {
  component: configComponent,
  connect: async (source, env) => {
    const keyId = source.envelopeKeyId ?? setting(env, 'configEnvelopeKey');
    if (!keyId) {
      throw new InvalidInputError('no envelope key to seal the configuration export with.', {
        component: COMPONENT,
        hint: 'Deployed workers get the stack\'s envelope key; a local run names one in NCA_CONFIG_ENVELOPE_KEY.',
      });
    }
    const clients = createConfigClients({
      ssmEndpoint: setting(env, 'ssmEndpoint'),
      secretsManagerEndpoint: setting(env, 'secretsManagerEndpoint'),
      s3Endpoint: setting(env, 's3Endpoint'),
    });
    return { source, clients, envelope: { kms: createKmsDataKeyClient({ endpoint: setting(env, 'kmsEndpoint') }), keyId } };
  },
  // The configuration lives in the configured stores; another targetDatabase names a copy below that prefix (drill.ts).
  retarget: (target, options) => {
    if (options.targetDatabase === undefined || options.targetDatabase === CONFIGURATION) return target;
    if (COPY_PREFIX.test(options.targetDatabase)) return { ...target, copy: options.targetDatabase };
    throw new InvalidInputError(`targetDatabase '${options.targetDatabase}' is neither "configuration" nor a copy's name prefix (1 to 64 of letters, digits, . _ -).`, {
      component: COMPONENT,
      hint: 'Leave targetDatabase out to restore the configured items; options.names restores a subset.',
    });
  },
};
