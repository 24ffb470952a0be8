import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ATTRIBUTES_FOLDER } from "../../contracts/instanceMetadata";
import { schedulingFor, schedulingMetadata, type Scheduling } from "../../contracts/scheduling";
import { listenOnLoopback } from "./listen";

/** What the stand-in serves; every field can be changed later through the handle. */
export interface MetadataServerOptions {
  /** @default "budgetml-local" */
  projectId?: string;
  /** @default "1234567890" */
  numericProjectId?: string;
  /** @default "us-central1-a" */
  zone?: string;
  /** @default "budgetml-local-instance" */
  instanceName?: string;
  /** Instance attributes (`instance/attributes/<key>`). @default {} */
  attributes?: Record<string, string>;
  /** `instance/network-interfaces/0/access-configs/0/external-ip`. @default "127.0.0.1" */
  externalIp?: string;
  /** The access token handed to clients asking for the default service account's token. @default "local-metadata-token" */
  accessToken?: string;
  /** @default "budgetml-vm@budgetml-local.iam.gserviceaccount.com" */
  serviceAccountEmail?: string;
  /** A machine created without a service account: no token to hand out (404), as on Google. @default false */
  noServiceAccount?: boolean;
  /** The instance's scheduling, served under `instance/scheduling/`. @default spot */
  scheduling?: Scheduling;
}

/** A running metadata stand-in. */
export interface MetadataServer {
  /** `127.0.0.1:port`, the form `GCE_METADATA_HOST` takes. */
  readonly host: string;
  /** `http://127.0.0.1:port`. */
  readonly url: string;
  /** The project this machine is in (`project/project-id`). */
  readonly projectId: string;
  /** Sets (or, with `undefined`, removes) an instance attribute; wakes `wait_for_change` watchers. */
  setAttribute(key: string, value: string | undefined): void;
  /**
   * Replaces every attribute at once, as Google's `instances.setMetadata` does (the whole item
   * list, in one change): a watcher never sees half of an update.
   */
  replaceAttributes(attributes: Record<string, string>): void;
  /** The instance attributes as served now (a copy). */
  readonly attributes: Record<string, string>;
  /** Flips `instance/preempted`, as Google does when it preempts a spot VM; wakes watchers. */
  setPreempted(preempted: boolean): void;
  /** Changes what `instance/scheduling/` shows, as a `setScheduling` on the stopped instance does. */
  setScheduling(scheduling: Scheduling): void;
  /** How many token requests were answered (tests use it to prove clients authenticated here). */
  readonly tokenRequests: number;
  /** The service-account access token this stand-in issues (other stand-ins accept only it). */
  readonly accessToken: string;
  /** How many `wait_for_change` requests are waiting now (tests await a watcher instead of sleeping). */
  readonly watching: number;
  close(): Promise<void>;
}

const PREFIX = "/computeMetadata/v1/";
const MAX_WAIT_SECONDS = 60;

/**
 * A loopback stand-in for the GCE metadata server, speaking enough of it for `gcp-metadata` and
 * `google-auth-library` (pointed here through `GCE_METADATA_HOST`): project and instance facts,
 * attributes, the preemption flag with `wait_for_change`, and a service-account token — so code
 * under test authenticates exactly as it would on a VM.
 */
export async function startMetadataServer(options: MetadataServerOptions = {}): Promise<MetadataServer> {
  const state = {
    projectId: options.projectId ?? "budgetml-local",
    numericProjectId: options.numericProjectId ?? "1234567890",
    zone: options.zone ?? "us-central1-a",
    instanceName: options.instanceName ?? "budgetml-local-instance",
    attributes: { ...(options.attributes ?? {}) } as Record<string, string>,
    externalIp: options.externalIp ?? "127.0.0.1",
    accessToken: options.accessToken ?? "local-metadata-token",
    serviceAccountEmail: options.serviceAccountEmail ?? "budgetml-vm@budgetml-local.iam.gserviceaccount.com",
    preempted: false,
    scheduling: options.scheduling ?? schedulingFor("spot"),
  };
  let tokenRequests = 0;
  let closing = false;
  const watchers = new Set<() => void>();
  const changed = () => {
    for (const wake of [...watchers]) wake();
  };

  /** Resolves a metadata path to its current value; `undefined` is a 404. */
  function lookup(path: string, recursive: boolean): string | object | undefined {
    const attributes = `instance/${ATTRIBUTES_FOLDER}`;
    if (path === attributes || `${path}/` === attributes) {
      return recursive
        ? { ...state.attributes }
        : Object.keys(state.attributes)
            .map((k) => `${k}\n`)
            .join("");
    }
    if (path.startsWith(attributes)) return state.attributes[path.slice(attributes.length)];
    if (path.startsWith("instance/service-accounts/") && options.noServiceAccount) return undefined;
    if (path === "instance/service-accounts/default/token") {
      tokenRequests += 1;
      return { access_token: state.accessToken, expires_in: 3599, token_type: "Bearer" };
    }
    const facts: Record<string, string> = {
      "project/project-id": state.projectId,
      "project/numeric-project-id": state.numericProjectId,
      "instance/zone": `projects/${state.numericProjectId}/zones/${state.zone}`,
      "instance/name": state.instanceName,
      "instance/hostname": `${state.instanceName}.${state.zone}.c.${state.projectId}.internal`,
      "instance/id": "4242424242424242",
      "instance/preempted": state.preempted ? "TRUE" : "FALSE",
      "instance/network-interfaces/0/access-configs/0/external-ip": state.externalIp,
      "instance/service-accounts/default/email": state.serviceAccountEmail,
      "instance/service-accounts/default/scopes": "https://www.googleapis.com/auth/cloud-platform\n",
      ...Object.fromEntries(
        Object.entries(schedulingMetadata(state.scheduling)).map(([key, value]) => [
          `instance/scheduling/${key}`,
          value,
        ]),
      ),
    };
    if (path === "instance" || path === "instance/")
      return recursive ? { name: state.instanceName, zone: facts["instance/zone"] } : "attributes/\nname\nzone\n";
    if (path === "project" || path === "project/") return recursive ? { projectId: state.projectId } : "project-id\n";
    return facts[path];
  }

  function send(res: ServerResponse, status: number, body: string | object, etag?: string) {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, {
      "Metadata-Flavor": "Google",
      "Content-Type": typeof body === "string" ? "application/text" : "application/json",
      ...(etag ? { ETag: etag } : {}),
    });
    res.end(text);
  }

  function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://metadata");
    if (!url.pathname.startsWith(PREFIX) && url.pathname !== "/" && url.pathname !== "/computeMetadata/v1") {
      return send(res, 404, "not found\n");
    }
    if (req.headers["metadata-flavor"] !== "Google") {
      return send(res, 403, "Missing Metadata-Flavor: Google header\n");
    }
    const path = url.pathname.startsWith(PREFIX) ? url.pathname.slice(PREFIX.length) : "";
    const recursive = url.searchParams.get("recursive") === "true";
    const current = () => (path === "" ? "instance/\nproject/\n" : lookup(path, recursive));
    // Google's ETag is a hash of the content at the path: a watcher of one key is not woken by
    // changes elsewhere, and `last_etag` tells a caller whether what it holds is stale.
    const etagOf = (value: string | object) =>
      createHash("sha256")
        .update(typeof value === "string" ? value : JSON.stringify(value))
        .digest("hex")
        .slice(0, 16);
    const respond = () => {
      const value = current();
      if (value === undefined) return send(res, 404, `metadata key ${path} not found\n`);
      send(res, 200, value, etagOf(value));
    };
    if (url.searchParams.get("wait_for_change") !== "true") return respond();

    // wait_for_change: answer at once when the caller's etag is stale, else when the content at
    // this path changes, or with the unchanged content when timeout_sec runs out.
    const initial = current();
    if (initial === undefined) return respond();
    const lastEtag = url.searchParams.get("last_etag");
    const waitingOn = lastEtag ?? etagOf(initial);
    if (etagOf(initial) !== waitingOn) return respond();
    const timeoutSeconds = Math.min(
      Number(url.searchParams.get("timeout_sec") ?? MAX_WAIT_SECONDS) || MAX_WAIT_SECONDS,
      MAX_WAIT_SECONDS,
    );
    const finish = () => {
      clearTimeout(timer);
      watchers.delete(onChange);
      if (!res.writableEnded) respond();
    };
    const onChange = () => {
      const value = current();
      if (closing || value === undefined || etagOf(value) !== waitingOn) finish();
    };
    const timer = setTimeout(finish, timeoutSeconds * 1000);
    watchers.add(onChange);
    req.on("close", () => {
      clearTimeout(timer);
      watchers.delete(onChange);
    });
  }

  const server = await listenOnLoopback(handle);
  return {
    host: server.host,
    url: server.url,
    projectId: state.projectId,
    setAttribute(key, value) {
      if (value === undefined) delete state.attributes[key];
      else state.attributes[key] = value;
      changed();
    },
    get attributes() {
      return { ...state.attributes };
    },
    replaceAttributes(attributes) {
      state.attributes = { ...attributes };
      changed();
    },
    setPreempted(preempted) {
      state.preempted = preempted;
      changed();
    },
    setScheduling(scheduling) {
      state.scheduling = scheduling;
      changed();
    },
    get tokenRequests() {
      return tokenRequests;
    },
    get accessToken() {
      return state.accessToken;
    },
    get watching() {
      return watchers.size;
    },
    close: () => {
      closing = true;
      for (const wake of [...watchers]) wake();
      return server.close();
    },
  };
}
