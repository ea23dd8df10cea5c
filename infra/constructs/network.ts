/**
 * Where the workers run. With `network` in backup.yaml: that VPC, its subnets and security groups, imported
 * by id (no look-ups, so synth needs no credentials). Without: a small VPC of its own with private isolated
 * subnets and an S3 gateway endpoint, no NAT gateway and no route to the internet. A database outside that
 * VPC is reachable only through peering or a Transit Gateway that the operator adds: real deployments set
 * `network`. Its paid parts are choices (backup.yaml `network.interface_endpoints`, `network.flow_logs`):
 * the interface endpoints cost by the hour in every zone, and buy nothing until the VPC reaches a database.
 */
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { CreatedNetworkConfig, FlowLogTraffic, NetworkConfig, SourcesConfig } from '../../config/types';

/** An interface endpoint: its construct id under the VPC and its service. */
export type InterfaceEndpoint = readonly [string, ec2.InterfaceVpcEndpointAwsService];

/**
 * What a worker in the created VPC calls besides S3 (gateway endpoint): KMS (it signs manifests with the
 * manifest key), Secrets Manager (the sources' secrets), ECR and Logs (a Fargate task pulls its image and
 * ships its log there; Lambda does both outside the VPC).
 */
export const WORKER_INTERFACE_ENDPOINTS: readonly InterfaceEndpoint[] = [
  ['Kms', ec2.InterfaceVpcEndpointAwsService.KMS],
  ['SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
  ['EcrApi', ec2.InterfaceVpcEndpointAwsService.ECR],
  ['EcrDocker', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER],
  ['Logs', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
];

/**
 * What the configured components' workers call besides WORKER_INTERFACE_ENDPOINTS: Parameter Store for the
 * configuration component's parameter paths; CloudWatch (metrics) for the logs component's metric sets. The
 * logs component's other service, CloudWatch Logs, is one of WORKER_INTERFACE_ENDPOINTS already.
 */
export function componentInterfaceEndpoints(sources: SourcesConfig): InterfaceEndpoint[] {
  const endpoints: InterfaceEndpoint[] = [];
  if ((sources.config?.parameterPaths.length ?? 0) > 0) endpoints.push(['Ssm', ec2.InterfaceVpcEndpointAwsService.SSM]);
  // Logs metrics are read by the logs worker; an RDS instance's FreeStorageSpace by the postgres restore's room check.
  if ((sources.logs?.metrics.length ?? 0) > 0 || sources.postgres?.rdsInstanceId) endpoints.push(['Monitoring', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING]);
  return endpoints;
}

/** The created VPC's defaults: no interface endpoint (nothing there reaches a database yet), rejected flows logged. */
export const CREATED_NETWORK_DEFAULTS: Required<CreatedNetworkConfig> = { interfaceEndpoints: false, flowLogs: 'REJECT' };

const FLOW_LOG_TRAFFIC: Record<Exclude<FlowLogTraffic, 'OFF'>, ec2.FlowLogTrafficType> = {
  ALL: ec2.FlowLogTrafficType.ALL,
  REJECT: ec2.FlowLogTrafficType.REJECT,
};

export interface WorkerNetworkProps {
  /**
   * The VPC, subnets and security groups of backup.yaml's `network`, imported by id.
   * @default - a VPC of its own: private isolated subnets in up to two AZs, no NAT gateway, an S3 gateway
   * endpoint and one worker security group, with the choices of `created`
   */
  readonly network?: NetworkConfig;
  /**
   * Interface endpoints and flow logs of the created VPC (ignored with `network`).
   * @default CREATED_NETWORK_DEFAULTS: no interface endpoints, flow logs of rejected traffic
   */
  readonly created?: CreatedNetworkConfig;
  /** Encrypts the created VPC's flow log group. */
  readonly logKey: kms.IKey;
  /**
   * Interface endpoints the configured components need besides WORKER_INTERFACE_ENDPOINTS
   * (componentInterfaceEndpoints), created with them.
   * @default none
   */
  readonly componentEndpoints?: readonly InterfaceEndpoint[];
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

    const { interfaceEndpoints, flowLogs } = { ...CREATED_NETWORK_DEFAULTS, ...props.created };
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'workers', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
      flowLogs: flowLogs === 'OFF' ? {} : { workers: this.flowLog(flowLogs, props.logKey) },
    });
    if (flowLogs === 'OFF') {
      Validations.of(vpc).acknowledge({
        id: 'AwsSolutions-VPC7',
        reason: 'backup.yaml sets network.flow_logs: off for this VPC, which has no route to the internet and only the workers in it.',
      });
    }
    const workers = new ec2.SecurityGroup(this, 'WorkerSecurityGroup', {
      vpc,
      description: 'nca-backup workers: no inbound; outbound to the sources, S3 and the VPC endpoints',
      allowAllOutbound: true,
    });
    this.vpc = vpc;
    this.subnets = vpc.isolatedSubnets;
    this.securityGroups = [workers];
    if (interfaceEndpoints) this.addInterfaceEndpoints(vpc, workers, [...WORKER_INTERFACE_ENDPOINTS, ...(props.componentEndpoints ?? [])]);
  }

  private flowLog(traffic: Exclude<FlowLogTraffic, 'OFF'>, key: kms.IKey): ec2.FlowLogOptions {
    const group = new logs.LogGroup(this, 'FlowLogs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      encryptionKey: key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    return { destination: ec2.FlowLogDestination.toCloudWatchLogs(group), trafficType: FLOW_LOG_TRAFFIC[traffic] };
  }

  private addInterfaceEndpoints(vpc: ec2.Vpc, workers: ec2.SecurityGroup, services: readonly InterfaceEndpoint[]): void {
    // The interface endpoints accept HTTPS from the workers only (not from the whole VPC CIDR).
    const endpoints = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc,
      description: 'nca-backup VPC interface endpoints: HTTPS from the workers',
      allowAllOutbound: false,
    });
    endpoints.addIngressRule(workers, ec2.Port.tcp(443), 'HTTPS from the nca-backup workers');
    for (const [name, service] of services) {
      vpc.addInterfaceEndpoint(name, { service, privateDnsEnabled: true, securityGroups: [endpoints], open: false });
    }
  }
}
