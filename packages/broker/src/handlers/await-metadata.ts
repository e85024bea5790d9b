// After the controller has committed a change, the node that forwarded it waits (bounded) until
// its own image shows the change and its partition logs are open, so a client that created a
// topic through this node can use it here at once. Past the bound the change still stands;
// the client's metadata refresh and retries cover the rest.

import type { MetadataImage } from "@castle/metadata";
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
