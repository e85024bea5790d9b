// The wire/disk format of a ConfChange entry's data (§4.1, one server at a time).
// Layout, 6 bytes: [version=1][kind: 1 addVoter, 2 addObserver, 3 removeNode][nodeId u32 big-endian].
// A committed entry that does not decode is corrupt state, so decoding guards with invariant().

import { invariant } from "@castle/common";
import type { ConfChange } from "./types.js";

const CONF_CHANGE_VERSION = 1;
const CONF_CHANGE_BYTES = 6;
const KIND_BY_TYPE = { addVoter: 1, addObserver: 2, removeNode: 3 } as const;
const TYPE_BY_KIND: Readonly<Record<number, ConfChange["type"]>> = { 1: "addVoter", 2: "addObserver", 3: "removeNode" };

export function encodeConfChange(change: ConfChange): Uint8Array {
  invariant(
    Number.isInteger(change.nodeId) && change.nodeId > 0 && change.nodeId <= 0xffffffff,
    () => `bad conf change node id ${change.nodeId}`,
  );
  const bytes = new Uint8Array(CONF_CHANGE_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, CONF_CHANGE_VERSION);
  view.setUint8(1, KIND_BY_TYPE[change.type]);
  view.setUint32(2, change.nodeId);
  return bytes;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  invariant(data.length === CONF_CHANGE_BYTES, () => `conf change must be ${CONF_CHANGE_BYTES} bytes, got ${data.length}`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  invariant(view.getUint8(0) === CONF_CHANGE_VERSION, () => `unknown conf change version ${view.getUint8(0)}`);
  const type = TYPE_BY_KIND[view.getUint8(1)];
  invariant(type !== undefined, () => `unknown conf change kind ${view.getUint8(1)}`);
  const nodeId = view.getUint32(2);
  invariant(nodeId > 0, "conf change node id 0");
  return { type, nodeId };
}
