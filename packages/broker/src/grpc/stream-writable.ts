// Back-pressure for the broker's long-lived response streams (ProduceStream, ReplicaFetchStream).

import type { EventEmitter } from "node:events";

/** Resolves once a server stream that refused a write can take more (drain), or is gone. */
export function writable(call: Pick<EventEmitter, "on" | "off">): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off("drain", done);
      call.off("cancelled", done);
      call.off("close", done);
      resolve();
    };
    call.on("drain", done);
    call.on("cancelled", done);
    call.on("close", done);
  });
}
