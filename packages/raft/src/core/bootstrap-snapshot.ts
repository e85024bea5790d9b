// How a new cluster starts: with a snapshot at index 1, term 1 whose membership is the initial
// configuration and whose data is the state machine's empty state. Members are then always
// derivable from the log plus its snapshot, so a node that joins later (with empty storage)
// installs this snapshot and learns every initial member before it applies any conf change.
// Bootstrapping from a bare ConfState instead (membership in no entry and no snapshot) lets a
// joiner replay "add me" onto an empty configuration and elect itself alone; the simulator
// found exactly that (seed 295), and RaftCore now stops rather than do it.

import type { ConfState, Snapshot } from "./types.js";

export const BOOTSTRAP_INDEX = 1;
export const BOOTSTRAP_TERM = 1;

export function bootstrapSnapshot(confState: ConfState): Snapshot {
  return {
    meta: {
      index: BOOTSTRAP_INDEX,
      term: BOOTSTRAP_TERM,
      confState: { voters: [...confState.voters], observers: [...confState.observers] },
    },
    data: new Uint8Array(0),
  };
}
