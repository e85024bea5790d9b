// The driver's port to the network. Raft tolerates loss, duplication and reordering of
// messages (the core retransmits), so a transport only has to make a best effort: send()
// never blocks and never throws for a network problem, it drops and counts instead.

import type { Message, RaftNodeId } from "../core/types.js";

export type RaftMessageHandler = (message: Message) => void;
export type RaftUnreachableHandler = (peer: RaftNodeId) => void;

export interface RaftTransport {
  /**
   * Queues a message for `message.to`. Fire-and-forget: messages to one peer leave in the
   * order they were queued; a message that cannot be delivered is dropped (and counted).
   * The caller must already have persisted everything the message depends on (Ready order).
   */
  send(message: Message): void;
  /** Every well-formed inbound message addressed to this node goes to `handler` (one handler). */
  onMessage(handler: RaftMessageHandler): void;
  /** Called when sending to a peer failed, so the driver can tell the core (reportUnreachable). */
  onUnreachable(handler: RaftUnreachableHandler): void;
  /** Stops accepting and sending; queued messages are dropped. Idempotent. */
  close(): Promise<void>;
}
