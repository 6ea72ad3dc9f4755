// One committed change of an entity, read back from its bucket's stream: the buckets' own streams
// are the outbox from which platform messages, events and invitations are sent (issue 13), so a
// change acknowledged to a caller is followed by its messages even if the instance dies right
// after the write.

export type ChangeAction = "created" | "updated" | "deleted";

export interface EntityChange {
  /** The bucket the entity lives in, e.g. `meetings`, `meeting-registrants`. */
  bucket: string;
  uid: string;
  /** The KV revision (stream sequence) of this change; for `deleted`, that of the delete. */
  revision: number;
  action: ChangeAction;
  /**
   * The stored entity (without `revision`) after the change; for `deleted`, the entity as it was
   * just before the delete, carried with the delete marker.
   */
  value: Record<string, unknown>;
  /**
   * For `updated`, the value the change replaced, when the feed was asked for it (a registrant's
   * old username, docs/PLATFORM.md §2) and the bucket's history still held it.
   */
  previous?: Record<string, unknown>;
  /** The request that made the change, when one did. */
  origin: {
    /** The caller's `Authorization` header ("Bearer <jwt>"), when the request carried one. */
    authorization?: string;
    principal?: string;
  };
  /** When the change was committed (the stream's timestamp). */
  at: Date;
}
