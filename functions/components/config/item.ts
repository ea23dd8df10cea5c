/**
 * One item of the configuration export, whatever store it came from: a Parameter Store parameter, a
 * Secrets Manager secret, or a configuration file in S3. The export (format.ts) lists them grouped by
 * store; a restore (plan.ts) compares them with what the stores hold now, item by item.
 */

export const ITEM_KINDS = ['parameter', 'secret', 'file'] as const;
export type ConfigItemKind = (typeof ITEM_KINDS)[number];

export type ParameterType = 'String' | 'StringList' | 'SecureString';

export interface ConfigItem {
  readonly kind: ConfigItemKind;
  /** The parameter's name (/neuroca/db/host), the secret's name (neuroca/api), or the file's s3://bucket/key. */
  readonly name: string;
  /** Parameters only: the parameter type, written back as it was. */
  readonly type?: ParameterType;
  /** The value as the store gives it: text; the bytes of a binary file or secret are base64 (`encoding`). */
  readonly value: string;
  /** How `value` holds the item's bytes: base64 for a file that is not UTF-8 text, or a binary secret. @default utf8 */
  readonly encoding?: 'utf8' | 'base64';
  /** The store's version: a parameter's Version, a secret's VersionId, a file's S3 VersionId (or ETag unversioned). */
  readonly version: string;
  /** When the store last changed it (ISO 8601). */
  readonly lastModified?: string;
  /** Tags (parameters and secrets), written back on restore. */
  readonly tags?: Readonly<Record<string, string>>;
  /** The KMS key a SecureString or a secret is encrypted with, written back on restore. */
  readonly kmsKeyId?: string;
  /** Secrets only: the staging labels of the version backed up (AWSCURRENT, ...). */
  readonly stages?: readonly string[];
  /** A parameter's description or a secret's, written back on restore. */
  readonly description?: string;
}

/** The item's identity across a backup and a restore: its kind and name. */
export const itemKey = (item: Pick<ConfigItem, 'kind' | 'name'>): string => `${item.kind}:${item.name}`;
