// The cluster's nodes as the metadata image describes them: the brokers clients may use (for
// Metadata and DescribeCluster) and every node with its roles and session (castle cluster describe).

import type { BrokerLiveness, BrokerRegistration, MetadataImage } from "@castle/metadata";
import type { BrokerInfoInput, ClusterNode } from "@castle/protocol";

/** The listener clients use; a broker registers it under this name. */
export const CLIENT_ENDPOINT = "CLIENT";

export function clientEndpoint(broker: BrokerRegistration): { host: string; port: number } | undefined {
  return broker.endpoints.find((e) => e.name === CLIENT_ENDPOINT);
}

/** Registered, unfenced brokers with a client endpoint: where clients may send requests. */
export function clientBrokers(image: MetadataImage): BrokerInfoInput[] {
  const brokers: BrokerInfoInput[] = [];
  for (const broker of image.unfencedBrokers()) {
    const endpoint = clientEndpoint(broker);
    if (endpoint) brokers.push({ nodeId: broker.brokerId, host: endpoint.host, port: endpoint.port, rack: broker.rack ?? "" });
  }
  return brokers;
}

/** Every registered broker and every voter, by id, with the active controller's view of broker sessions. */
export function clusterNodes(
  image: MetadataImage,
  voterIds: readonly number[],
  liveness: readonly BrokerLiveness[],
  nowMs: number,
): ClusterNode[] {
  const sessions = new Map(liveness.map((l) => [l.brokerId, l]));
  const ids = [...new Set([...image.brokers().map((b) => b.brokerId), ...voterIds])].sort((a, b) => a - b);
  return ids.map((nodeId) => {
    const broker = image.broker(nodeId);
    const endpoint = broker ? clientEndpoint(broker) : undefined;
    const session = sessions.get(nodeId);
    return {
      nodeId,
      host: endpoint?.host ?? "",
      port: endpoint?.port ?? 0,
      rack: broker?.rack ?? "",
      isBroker: broker !== undefined,
      isController: voterIds.includes(nodeId),
      fenced: broker?.fenced ?? false,
      inControlledShutdown: session?.inControlledShutdown ?? false,
      lastHeartbeatAgeMs: session?.lastHeartbeatMs == null ? -1 : Math.max(0, nowMs - session.lastHeartbeatMs),
      brokerEpoch: broker?.brokerEpoch ?? -1,
    };
  });
}
