import type { ServerResponse } from "node:http";

/** What the runtime tracks per request, on the response (works for Express's and Node's alike). */
export interface RequestContext {
  requestId: string;
  /** The matched route, for metrics labels; unmatched paths share one label. */
  route: string;
}

// A symbol-keyed property rather than a WeakMap: this runs several times per prediction.
const CONTEXT = Symbol("budgetml.requestContext");
type WithContext = ServerResponse & { [CONTEXT]?: RequestContext };

export function contextOf(res: ServerResponse): RequestContext {
  return ((res as WithContext)[CONTEXT] ??= { requestId: "", route: "unmatched" });
}
