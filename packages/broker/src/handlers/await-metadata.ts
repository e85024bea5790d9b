// After the controller has committed a change, the node that forwarded it waits (bounded) until
// its own image shows the change and its partition logs are open, so a client that created a
// topic through this node can use it here at once. Past the bound the change still stands;
// the client's metadata refresh and retries cover the rest.

import { sleep } from "@castle/common";
import type { MetadataImage } from "@castle/metadata";
import { ProtocolError } from "@castle/protocol";
import type { BrokerContext } from "./broker-context.js";

/** How long an admin answer waits for this node to apply its own change. */
export const LOCAL_APPLY_WAIT_MS = 5000;

/** Resolves true once `until(image)` holds and the logs for that image are open; false after timeoutMs. */
export async function awaitLocalMetadata(
  ctx: BrokerContext,
  until: (image: MetadataImage) => boolean,
  timeoutMs = LOCAL_APPLY_WAIT_MS,
): Promise<boolean> {
  const deadline = ctx.clock.monotonicMs() + timeoutMs;
  if (!until(ctx.image())) {
    const seen = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        unsubscribe();
        resolve(false);
      }, timeoutMs);
      const unsubscribe = ctx.quorum.onImage((image) => {
        if (!until(image)) return;
        clearTimeout(timer);
        unsubscribe();
        resolve(true);
      });
    });
    if (!seen) return false;
  }
  const remaining = Math.max(1, deadline - ctx.clock.monotonicMs());
  return ctx.reconciler.waitFor(ctx.image().offset, remaining).then(
    () => true,
    () => false,
  );
}

/** How often the Raft applied index is looked at while waiting for it. */
const APPLIED_POLL_MS = 5;

/**
 * After a change the active controller answered, waits (bounded) until this node has applied
 * the metadata log as far as the controller had committed by then: any change, whatever its
 * shape. The active controller itself applied it before answering.
 */
export async function awaitControllerCommit(ctx: BrokerContext, timeoutMs = LOCAL_APPLY_WAIT_MS): Promise<boolean> {
  if (ctx.quorum.isActiveController) return true;
  const deadline = ctx.clock.monotonicMs() + timeoutMs;
  let committed: number;
  try {
    committed = Number((await ctx.controller.call("describeQuorum", [], timeoutMs)).highWatermark ?? 0);
  } catch (error) {
    if (error instanceof ProtocolError) return false;
    throw error;
  }
  while (ctx.quorum.appliedIndex < committed) {
    if (ctx.clock.monotonicMs() >= deadline) return false;
    await sleep(APPLIED_POLL_MS);
  }
  const remaining = Math.max(1, deadline - ctx.clock.monotonicMs());
  return ctx.reconciler.waitFor(ctx.image().offset, remaining).then(
    () => true,
    () => false,
  );
}
