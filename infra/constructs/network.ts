/**
 * Where the workers run. With `network` in backup.yaml: that VPC, its subnets and security groups, imported
 * by id (no look-ups, so synth needs no credentials). Without: a small VPC of its own with private isolated
 * subnets, an S3 gateway endpoint and the interface endpoints the workers need (Secrets Manager, ECR, Logs),
 * so no NAT gateway and no route to the internet. A database outside that VPC is then reachable only through
 * peering or a Transit Gateway: real deployments set `network`.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { NetworkConfig } from '../../config/types';

export interface WorkerNetworkProps {
  /**
   * The VPC, subnets and security groups of backup.yaml's `network`, imported by id.
   * @default - a VPC of its own: private isolated subnets in up to two AZs, no NAT gateway, an S3 gateway
   * endpoint, Secrets Manager, ECR and Logs interface endpoints, flow logs, and one worker security group
   */
  readonly network?: NetworkConfig;
  /** Encrypts the created VPC's flow log group. */
  readonly logKey: kms.IKey;
}

export class WorkerNetwork extends Construct {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.ISubnet[];
  readonly securityGroups: ec2.ISecurityGroup[];

  constructor(scope: Construct, id: string, props: WorkerNetworkProps) {
    super(scope, id);
    const network = props.network;
    if (network) {
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: network.vpcId,
        availabilityZones: [...network.availabilityZones],
        privateSubnetIds: [...network.subnetIds],
      });
      this.subnets = this.vpc.privateSubnets;
      this.securityGroups = network.securityGroupIds.map((sg, i) =>
        ec2.SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, sg, { mutable: false }),
      );
      return;
    }

    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'workers', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
      flowLogs: {
        all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs), trafficType: ec2.FlowLogTrafficType.ALL },
      },
    });
    const workers = new ec2.SecurityGroup(this, 'WorkerSecurityGroup', {
      vpc,
      description: 'nca-backup workers: no inbound; outbound to the sources, S3 and the VPC endpoints',
      allowAllOutbound: true,
    });
    // The interface endpoints accept HTTPS from the workers only (not from the whole VPC CIDR).
    const endpoints = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc,
      description: 'nca-backup VPC interface endpoints: HTTPS from the workers',
      allowAllOutbound: false,
    });
    endpoints.addIngressRule(workers, ec2.Port.tcp(443), 'HTTPS from the nca-backup workers');
    for (const [name, service] of [
      ['SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
      ['EcrApi', ec2.InterfaceVpcEndpointAwsService.ECR],
      ['EcrDocker', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER],
      ['Logs', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
    ] as const) {
      vpc.addInterfaceEndpoint(name, { service, privateDnsEnabled: true, securityGroups: [endpoints], open: false });
    }
    this.vpc = vpc;
    this.subnets = vpc.isolatedSubnets;
    this.securityGroups = [workers];
  }
}
