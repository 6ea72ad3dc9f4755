// Who a request is made by, available to everything the request runs (handlers, the store's write
// path, platform messages) without threading it through every call. The adapter (rpc/adapter.ts)
// opens one scope per request; code running outside a request (feeds, jobs) sees no scope and
// acts on nobody's behalf.
import { AsyncLocalStorage } from "node:async_hooks";

/** The caller of a request: from its verified token (AUTH_MODE=jwt) or LOCAL_PRINCIPAL (off). */
export interface Caller {
  /** The token's `sub`, or LOCAL_PRINCIPAL when AUTH_MODE=off. */
  principal: string;
  username?: string;
  email?: string;
  /** The request's `Authorization` header as it came ("Bearer <jwt>"), when it carried one. */
  authorization?: string;
}

export interface RequestScope {
  caller: Caller;
}

const storage = new AsyncLocalStorage<RequestScope>();

/** Runs `work` with `scope` as the current request scope (the adapter, once per request). */
export function runInRequestScope<T>(scope: RequestScope, work: () => T): T {
  return storage.run(scope, work);
}

/** The caller of the request being served, or undefined outside a request. */
export function currentCaller(): Caller | undefined {
  return storage.getStore()?.caller;
}
