/**
 * The worker image as the CDK CLI will build it: the docker image entry of the synthesized cloud assembly
 * (`<stack>.assets.json`) carries every option `cdk deploy` passes to `docker build`. Lambda accepts only a
 * plain single-platform manifest, so the build options must ask for one whatever the local Docker's
 * defaults (containerd image store, default provenance attestations).
 */
import { mkdtempSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildApp, PRIMARY_STACK_ID } from '../../infra/app';
import { configWith } from './fixture-config';

const SECRET_ARN = 'arn:aws:secretsmanager:us-west-2:123456789012:secret:neuroca/postgres-AbC123';

/** `type=image,a=b` → { type: 'image', a: 'b' }. */
const exporterAttributes = (output: string) => Object.fromEntries(output.split(',').map((pair) => pair.split('=', 2)));

describe('the worker image asset', () => {
  const outdir = mkdtempSync(path.join(tmpdir(), 'nca-image-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  const config = configWith((c) => (c.sources.postgres = { database: 'neuroca_db', secretArn: SECRET_ARN }));
  buildApp(config, { outdir, bundling: false, pgMajor: '16' }).synth();
  const assets = JSON.parse(readFileSync(path.join(outdir, `${PRIMARY_STACK_ID}.assets.json`), 'utf8'));
  const images = Object.values(assets.dockerImages ?? {}) as Array<{ source: Record<string, any> }>;

  test('is one image, built from functions/Dockerfile for linux/amd64 with the configured client major', () => {
    expect(images).toHaveLength(1);
    expect(images[0].source).toMatchObject({ dockerFile: 'functions/Dockerfile', platform: 'linux/amd64', dockerBuildArgs: { PG_MAJOR: '16' } });
  });

  test('is exported as a single manifest with Docker media types and no default attestation', () => {
    const outputs: string[] = images[0].source.dockerOutputs;
    expect(outputs).toHaveLength(1);
    expect(exporterAttributes(outputs[0])).toEqual({ type: 'image', 'oci-mediatypes': 'false', 'attestation-inline': 'false' });
  });

  test('its build context holds the package manifests, functions/ and config/ only', () => {
    const context = path.join(outdir, images[0].source.directory);
    expect(readdirSync(context).sort()).toEqual(['.dockerignore', 'config', 'functions', 'package-lock.json', 'package.json']);
  });
});
