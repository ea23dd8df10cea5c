/** The configuration component's target: what it reads and writes, with which clients and envelope key. */
import type { KmsDataKeyApi } from '../../core/kms';
import type { ConfigClients } from './clients';
import type { ConfigSourceConfig } from './descriptor';

export interface ConfigTarget {
  /** What to read and the scope a restore may write in. */
  readonly source: ConfigSourceConfig;
  readonly clients: ConfigClients;
  /** The envelope key the export is sealed with. */
  readonly envelope: { readonly kms: KmsDataKeyApi; readonly keyId: string };
  /**
   * A copy of the configuration under this name prefix is read and written instead of the configured items
   * (a restore's targetDatabase; a drill's sandbox): drill.ts. @default the configured items themselves
   */
  readonly copy?: string;
}
