/**
 * The CA bundle the workers verify database servers with. The worker image ships Amazon RDS's bundle
 * (functions/Dockerfile), whose CAs also sign Amazon DocumentDB's server certificates; an operator's file
 * (NCA_PG_TLS_CA_FILE, NCA_MONGODB_TLS_CA_FILE) replaces it. Outside the image (local runs, tests) the
 * bundle is absent and the connection falls back to the trusted roots of Node and libpq.
 */
import { existsSync } from 'node:fs';

/** Where functions/Dockerfile puts https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem. */
export const RDS_CA_BUNDLE = '/etc/pki/nca-backup/rds-global-bundle.pem';

/** The configured CA file, else the image's RDS bundle when it exists, else undefined (system roots). */
export function caBundle(configured: string | undefined, imageBundle = RDS_CA_BUNDLE): string | undefined {
  if (configured) return configured;
  return existsSync(imageBundle) ? imageBundle : undefined;
}
