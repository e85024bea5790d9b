// The Raft state machine of every quorum member: committed metadata batches, replayed in log
// order into an immutable MetadataImage. One Raft entry = one batch, applied at the entry's
// index as its offset; Raft's own no-ops (empty data) carry no records and are skipped.
//
// While this member is the active controller, its QuorumController is attached here and
// replays every batch the image applies, in the same order; the image is then the
// controller's, so the two cannot drift apart (KIP-631: the active controller advances by
// replaying the log like everyone else). Called only from RaftNode's single Ready chain.

import { invariant, type Logger } from "@castle/common";
import type { Entry, RaftStateMachine } from "@castle/raft";
import type { QuorumController } from "../controller/quorum-controller.js";
import { MetadataImage } from "../image/metadata-image.js";
import { decodeMetadataBatch } from "../records/record-codec.js";

/** Called after each applied batch (and after a snapshot replaced the image), on the Raft chain: keep it short, do not throw. */
export type ImageListener = (image: MetadataImage) => void;

/** What this member replayed since it started: how a test (or an operator) sees that a restart loaded a snapshot. */
export interface ReplayStats {
  /** Snapshots loaded (at start, or sent by the leader), counting the empty bootstrap one. */
  readonly snapshotsRestored: number;
  /** Offset of the image the last loaded snapshot held (-1: the empty image). */
  readonly restoredImageOffset: number;
  /** Batches applied since start. */
  readonly batchesApplied: number;
  /** Offset of the first batch applied since start (-1: none yet). */
  readonly firstAppliedOffset: number;
}

export class MetadataStateMachine implements RaftStateMachine {
  private current = MetadataImage.empty();
  private attached: QuorumController | undefined;
  private readonly listeners = new Set<ImageListener>();
  private stats: ReplayStats = { snapshotsRestored: 0, restoredImageOffset: -1, batchesApplied: 0, firstAppliedOffset: -1 };

  private snapshotAtMs: number | undefined;

  /** `now` (monotonic ms) times the latest snapshot taken or loaded. */
  constructor(
    private readonly logger: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** When (monotonic ms) this member last took or loaded a snapshot; undefined if never since start. */
  get lastSnapshotMs(): number | undefined {
    return this.snapshotAtMs;
  }

  get image(): MetadataImage {
    return this.current;
  }

  get replayStats(): ReplayStats {
    return this.stats;
  }

  /** The controller replaying alongside the image, while this member is the active controller. */
  get controller(): QuorumController | undefined {
    return this.attached;
  }

  /** Starts the controller from the committed image; from now on it replays what the image applies. */
  attachController(controller: QuorumController): void {
    controller.reset(this.current);
    this.attached = controller;
  }

  detachController(): void {
    this.attached = undefined;
  }

  onImage(listener: ImageListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  apply(entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.data.byteLength === 0) continue;
      // A batch that does not decode or does not fit the image throws: RaftNode then stops the
      // member rather than serve an image that differs from the other members'.
      const batch = decodeMetadataBatch(entry.data);
      const controller = this.attached;
      if (controller) {
        invariant(controller.image === this.current, "the active controller's image drifted from the committed image");
        controller.replay(batch, entry.index);
        this.current = controller.image;
      } else {
        this.current = this.current.apply(batch, entry.index);
      }
      this.stats = {
        ...this.stats,
        batchesApplied: this.stats.batchesApplied + 1,
        firstAppliedOffset: this.stats.firstAppliedOffset === -1 ? entry.index : this.stats.firstAppliedOffset,
      };
      this.emit();
    }
  }

  async snapshot(): Promise<Uint8Array> {
    this.snapshotAtMs = this.now();
    return this.current.toSnapshot();
  }

  /** Empty data is Raft's bootstrap snapshot: the empty image. */
  async restore(data: Uint8Array): Promise<void> {
    if (this.attached) {
      // Only a follower installs a snapshot, so leadership is already gone; the driver notices
      // at its next look at the Raft role. Detach now: the controller's image is history.
      this.logger.warn("snapshot installed while attached to the controller; detaching it");
      this.attached = undefined;
    }
    this.current = data.byteLength === 0 ? MetadataImage.empty() : MetadataImage.fromSnapshot(data);
    if (data.byteLength > 0) this.snapshotAtMs = this.now();
    this.stats = { ...this.stats, snapshotsRestored: this.stats.snapshotsRestored + 1, restoredImageOffset: this.current.offset };
    this.logger.info("loaded metadata snapshot", { ...this.current.summary() });
    this.emit();
  }

  private emit(): void {
    for (const listener of this.listeners) {
      try {
        listener(this.current);
      } catch (error) {
        this.logger.error("image listener failed", { error });
      }
    }
  }
}
