// A network of FaultProxies between named endpoints, so a test can partition groups instead of
// cutting proxies one at a time. Every directed link gets its own proxy: for each endpoint
// `from` (a node or a dial-only client) and each listener `service` of each other node `to`,
// the (from -> to, service) proxy forwards to `to`'s real address. `from` must dial `to` only
// through that proxy, so each node needs its own address book (addressBook(from, service)): its
// Raft voters list and its clients' bootstrap name proxies, not the real ports.
//
// A link carries both directions of the connections `from` opened: requests toTarget, replies
// fromTarget. "Bytes from a to b" therefore travel on a's links to b (toTarget) and on b's links
// to a (fromTarget), and every group operation below cuts both.

import { invariant, SeededRandom } from "@castle/common";
import { type CutOptions, FaultProxy, type FaultProxyStats } from "./fault-proxy.js";
import type { ProxyTarget } from "./proxied-connection.js";

/** Proxies one network may hold: 32 nodes with 3 listeners each, plus clients, fit. */
export const FAULT_NETWORK_LINKS_MAX = 4096;

export interface FaultNetworkOptions {
  /**
   * Each node's real listeners: node id -> service name -> address (e.g. {"1": {raft: {host,
   * port}, client: {...}}}). Ports may not be listening yet: a dial is made per connection.
   */
  readonly listeners: Readonly<Record<string, Readonly<Record<string, ProxyTarget>>>>;
  /** Endpoints that only dial (clients, the test itself); they get proxies to every node. */
  readonly clients?: readonly string[];
  /** Default 127.0.0.1. */
  readonly listenHost?: string;
  /** Proxy k's jitter comes from SeededRandom(seed + k), k in link order. Default 0. */
  readonly seed?: number;
  /** Per connection; see FaultProxyOptions. */
  readonly heldBytesMax?: number;
}

/** One directed link: `from` reaches `to`'s `service` through `proxy`. */
export interface FaultLink {
  readonly from: string;
  readonly to: string;
  readonly service: string;
  readonly proxy: FaultProxy;
}

const linkKey = (from: string, to: string, service: string): string => JSON.stringify([from, to, service]);

export class FaultNetwork {
  /** Nodes (with listeners) in the order given, then dial-only clients. */
  readonly endpoints: readonly string[];
  private readonly byKey = new Map<string, FaultLink>();

  private constructor(
    private readonly listeners: FaultNetworkOptions["listeners"],
    readonly links: readonly FaultLink[],
    endpoints: readonly string[],
  ) {
    this.endpoints = endpoints;
    for (const link of links) this.byKey.set(linkKey(link.from, link.to, link.service), link);
  }

  /** Starts one proxy per (from, to, service) with from !== to; on failure closes those started. */
  static async start(options: FaultNetworkOptions): Promise<FaultNetwork> {
    const nodes = Object.keys(options.listeners);
    const clients = options.clients ?? [];
    const endpoints = [...nodes, ...clients];
    invariant(new Set(endpoints).size === endpoints.length, `endpoint ids must be distinct: ${endpoints.join(", ")}`);
    const planned: Array<Omit<FaultLink, "proxy"> & { target: ProxyTarget }> = [];
    for (const from of endpoints) {
      for (const to of nodes) {
        if (from === to) continue;
        for (const [service, target] of Object.entries(options.listeners[to] ?? {})) planned.push({ from, to, service, target });
      }
    }
    invariant(
      planned.length <= FAULT_NETWORK_LINKS_MAX,
      `${planned.length} links exceed FAULT_NETWORK_LINKS_MAX (${FAULT_NETWORK_LINKS_MAX})`,
    );
    const links: FaultLink[] = [];
    try {
      for (const [k, plan] of planned.entries()) {
        const proxy = await FaultProxy.start({
          listenHost: options.listenHost ?? "127.0.0.1",
          target: plan.target,
          name: `${plan.from}->${plan.to}:${plan.service}`,
          random: new SeededRandom((options.seed ?? 0) + k),
          ...(options.heldBytesMax !== undefined ? { heldBytesMax: options.heldBytesMax } : {}),
        });
        links.push({ from: plan.from, to: plan.to, service: plan.service, proxy });
      }
    } catch (error) {
      await Promise.all(links.map((link) => link.proxy.close()));
      throw error;
    }
    return new FaultNetwork(options.listeners, links, endpoints);
  }

  /** The proxy `from` uses to reach `to`'s `service`. */
  link(from: string, to: string, service: string): FaultProxy {
    const link = this.byKey.get(linkKey(from, to, service));
    invariant(link !== undefined, `no link ${from}->${to}:${service}`);
    return link.proxy;
  }

  /** Where `from` dials `to`'s `service`: its own listener for itself, else the (from -> to) proxy. */
  address(from: string, to: string, service: string): ProxyTarget {
    this.requireEndpoint(from);
    if (from === to) {
      const own = this.listeners[to]?.[service];
      invariant(own !== undefined, `node ${to} has no listener "${service}"`);
      return own;
    }
    const proxy = this.link(from, to, service);
    return { host: proxy.host, port: proxy.port };
  }

  /** `from`'s view of every node's `service` (node id -> address), in node order: its voters list, its bootstrap. */
  addressBook(from: string, service: string): ReadonlyMap<string, ProxyTarget> {
    const book = new Map<string, ProxyTarget>();
    for (const [to, services] of Object.entries(this.listeners)) {
      if (services[service] !== undefined) book.set(to, this.address(from, to, service));
    }
    return book;
  }

  /** Cuts every byte between the groups, both ways (blackhole unless options say reset). */
  partition(groupA: readonly string[], groupB: readonly string[], options: CutOptions = {}): void {
    for (const id of [...groupA, ...groupB]) this.requireEndpoint(id);
    invariant(!groupA.some((id) => groupB.includes(id)), `partition groups overlap: [${groupA}] and [${groupB}]`);
    for (const a of groupA) {
      for (const b of groupB) {
        for (const link of [...this.linksBetween(a, b), ...this.linksBetween(b, a)]) link.proxy.cut("both", options);
      }
    }
  }

  /** Cuts `id` from every other endpoint, clients included. */
  isolate(id: string, options: CutOptions = {}): void {
    this.partition(
      [id],
      this.endpoints.filter((other) => other !== id),
      options,
    );
  }

  /**
   * Drops bytes sent by `from` to `to` (a blackhole; only whole connections can be reset). Open
   * connections still carry bytes from `to` to `from`; new connections between them hang either
   * way, since a TCP handshake needs both directions.
   */
  cutOneWay(from: string, to: string): void {
    for (const link of this.linksBetween(from, to)) link.proxy.cut("toTarget");
    for (const link of this.linksBetween(to, from)) link.proxy.cut("fromTarget");
  }

  /** Delays bytes sent by `from` to `to` by delayMs plus a seeded draw in [0, jitterMs). */
  delay(from: string, to: string, delayMs: number, jitterMs = 0): void {
    for (const link of this.linksBetween(from, to)) link.proxy.delay(delayMs, jitterMs, "toTarget");
    for (const link of this.linksBetween(to, from)) link.proxy.delay(delayMs, jitterMs, "fromTarget");
  }

  /** Heals every link: held bytes are delivered, delays and refusals end. */
  healAll(): void {
    for (const link of this.links) link.proxy.heal();
  }

  /** Resets every open connection on every link; returns how many. */
  resetAll(): number {
    let count = 0;
    for (const link of this.links) count += link.proxy.resetAll();
    return count;
  }

  /** Every link's stats summed. */
  get stats(): FaultProxyStats {
    const total: Record<keyof FaultProxyStats, number> = {
      accepted: 0,
      active: 0,
      refused: 0,
      resets: 0,
      heldOverflows: 0,
      dialFailures: 0,
      bytesToTarget: 0,
      bytesFromTarget: 0,
      heldBytes: 0,
      heldChunks: 0,
    };
    for (const link of this.links) {
      const stats = link.proxy.stats;
      for (const key of Object.keys(total) as Array<keyof FaultProxyStats>) total[key] += stats[key];
    }
    return total;
  }

  /** Closes every proxy. Idempotent. */
  async close(): Promise<void> {
    await Promise.all(this.links.map((link) => link.proxy.close()));
  }

  /** Every link `from` opened to `to` (one per service of `to`; none if `to` has no listener). */
  private linksBetween(from: string, to: string): FaultLink[] {
    this.requireEndpoint(from);
    this.requireEndpoint(to);
    return this.links.filter((link) => link.from === from && link.to === to);
  }

  private requireEndpoint(id: string): void {
    invariant(this.endpoints.includes(id), `unknown endpoint "${id}" (known: ${this.endpoints.join(", ")})`);
  }
}
