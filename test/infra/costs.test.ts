/**
 * The paid extras are choices in backup.yaml, off (or cheapest) by default: the created VPC's interface
 * endpoints and flow logs, Container Insights on the workers' cluster, and S3 Replication Time Control.
 * The replication alarms keep their metrics either way.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../infra/app';
import { REPLICATION_LATENCY_THRESHOLD_SECONDS, REPLICATION_LATENCY_THRESHOLD_WITHOUT_RTC_SECONDS } from '../../infra/constructs/alarms';
import type { BackupConfig } from '../../config/types';
import { configWith, fixtureConfig, logicalId, render, synthTemplates } from './fixture-config';

/** Synthesizes with the cdk-nag AwsSolutions pack (no bundling); a finding makes the synth throw. */
function synthWithNag(config: BackupConfig): void {
  const outdir = mkdtempSync(path.join(tmpdir(), 'nca-costs-'));
  try {
    buildApp(config, { nag: true, bundling: false, outdir }).synth();
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function replicationDestination(primary: Template): any {
  const bucket = Object.values(primary.findResources('AWS::S3::Bucket', { Properties: { BucketName: 'neuroca-backups' } }))[0] as any;
  return bucket.Properties.ReplicationConfiguration.Rules[0].Destination;
}

function latencyThreshold(primary: Template): number {
  const [alarm] = Object.values(primary.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'ReplicationLatency' } })) as any[];
  return alarm.Properties.Threshold;
}

function endpointServices(primary: Template): string[] {
  return (Object.values(primary.findResources('AWS::EC2::VPCEndpoint')) as any[]).map((e) => render(e.Properties.ServiceName).replace(/^com\.amazonaws\.<Region>\.|^com\.amazonaws\.us-west-2\./, '')).sort();
}

describe('cost choices: defaults', () => {
  const { primary } = synthTemplates(fixtureConfig());

  test('the created VPC has the free S3 gateway endpoint and no interface endpoint', () => {
    expect(endpointServices(primary)).toEqual(['s3']);
    primary.resourceCountIs('AWS::EC2::SecurityGroup', 1);
  });

  test('flow logs record rejected traffic only', () => {
    primary.resourceCountIs('AWS::EC2::FlowLog', 1);
    primary.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'REJECT', LogDestinationType: 'cloud-watch-logs' });
  });

  test('Container Insights is off', () => {
    primary.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'disabled' }] });
  });

  test('replication without Replication Time Control, with the metrics the alarms read; latency alarm at 6 hours', () => {
    const destination = replicationDestination(primary);
    expect(destination.ReplicationTime).toBeUndefined();
    expect(destination.Metrics).toEqual({ Status: 'Enabled' });
    expect(latencyThreshold(primary)).toBe(REPLICATION_LATENCY_THRESHOLD_WITHOUT_RTC_SECONDS);
    primary.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/S3', MetricName: 'OperationsFailedReplication' });
  });
});

describe('cost choices: turned on', () => {
  const { primary } = synthTemplates(
    configWith((c) => {
      c.createdNetwork = { interfaceEndpoints: true, flowLogs: 'ALL' };
      c.runner.fargate.containerInsights = true;
      c.storage.replicationTimeControl = true;
    }),
  );

  test('interface endpoints for what the workers call: KMS, Secrets Manager, ECR, Logs, open to the workers only', () => {
    expect(endpointServices(primary)).toEqual(['ecr.api', 'ecr.dkr', 'kms', 'logs', 's3', 'secretsmanager']);
    for (const endpoint of Object.values(primary.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Interface' } })) as any[]) {
      expect(endpoint.Properties.PrivateDnsEnabled).toBe(true);
      expect(endpoint.Properties.SubnetIds).toHaveLength(2);
    }
    // The endpoints accept HTTPS from the workers' security group only (not from the whole VPC CIDR).
    primary.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
      SourceSecurityGroupId: { 'Fn::GetAtt': [logicalId(primary, 'AWS::EC2::SecurityGroup', 'WorkerSecurityGroup'), 'GroupId'] },
    });
  });

  test('flow logs of all traffic, Container Insights on', () => {
    primary.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL' });
    primary.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
  });

  test('Replication Time Control with its 15-minute threshold, which the latency alarm then holds it to', () => {
    expect(replicationDestination(primary)).toMatchObject({
      ReplicationTime: { Status: 'Enabled', Time: { Minutes: 15 } },
      Metrics: { Status: 'Enabled', EventThreshold: { Minutes: 15 } },
    });
    expect(latencyThreshold(primary)).toBe(REPLICATION_LATENCY_THRESHOLD_SECONDS);
  });
});

describe('cost choices: flow logs off', () => {
  const config = configWith((c) => (c.createdNetwork = { flowLogs: 'OFF' }));

  test('no flow log and no log group for it', () => {
    const { primary } = synthTemplates(config);
    primary.resourceCountIs('AWS::EC2::FlowLog', 0);
    expect(Object.keys(primary.findResources('AWS::Logs::LogGroup')).filter((id) => id.includes('FlowLogs'))).toEqual([]);
  });

  test('cdk-nag accepts it, and Container Insights off, with the reason acknowledged', () => {
    expect(() => synthWithNag(config)).not.toThrow();
  });
});
