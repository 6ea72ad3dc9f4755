// The platform entities a request names must exist (docs/CONTRACT.md §10): a meeting's or past meeting's
// `project_uid` and each committee `uid`, asked of the project and committee services. Unknown
// ones are one 400 naming every such field; a service that does not answer makes it a 503
// (PlatformLookups throws `unavailable`). Without PLATFORM_LOOKUPS nothing is checked.
import { invalidRequest, type ErrorDetail } from "../errors.js";
import type { PlatformLookups } from "../platform/lookups.js";

export interface References {
  /** The project to check, when the request sets (or changes) it. */
  project_uid?: string | undefined;
  /** The request's committees, in request order (for the `/committees/N/uid` paths). */
  committees?: readonly { uid: string }[] | null | undefined;
}

/**
 * Checks the references of a create, or those of an update that are new: `known` committee uids
 * (the meeting has them already) are not asked again.
 */
export async function checkReferences(
  platform: PlatformLookups | undefined,
  references: References,
  known: ReadonlySet<string> = new Set(),
): Promise<void> {
  if (platform === undefined) return;
  const checks: Promise<ErrorDetail | undefined>[] = [];
  const projectUid = references.project_uid;
  if (projectUid !== undefined) {
    checks.push(
      platform
        .projectExists(projectUid)
        .then((exists) =>
          exists ? undefined : { path: "/project_uid", message: "is not a known project" },
        ),
    );
  }
  (references.committees ?? []).forEach((committee, index) => {
    if (known.has(committee.uid)) return;
    checks.push(
      platform
        .committeeExists(committee.uid)
        .then((exists) =>
          exists
            ? undefined
            : { path: `/committees/${index}/uid`, message: "is not a known committee" },
        ),
    );
  });
  const results = await Promise.allSettled(checks);
  const failure = results.find((r) => r.status === "rejected");
  if (failure !== undefined) throw failure.reason;
  const details = results.flatMap((r) =>
    r.status === "fulfilled" && r.value !== undefined ? [r.value] : [],
  );
  if (details.length > 0) {
    throw invalidRequest(
      `invalid request: ${details.map((d) => `${d.path} ${d.message}`).join("; ")}`,
      details,
    );
  }
}
