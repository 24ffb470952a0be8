import cluster, { type Worker } from "node:cluster";
import { AggregatorRegistry, type Registry } from "prom-client";
import { ERRORS, HttpError } from "./http/errors";

// /metrics for the whole server when it runs several workers. A scrape reaches one worker (the
// cluster hands connections out in turn); that worker asks the primary, which collects every
// worker's metrics over the cluster IPC channel and merges them with prom-client's cluster
// aggregation (counters and histograms summed, each gauge as its `aggregator` says), so every
// scrape sees every request whichever worker takes it.
//
//   worker → primary   {type: "budgetml:metrics-ready"}              its registry can be collected
//   worker → primary   {type: "budgetml:metrics", id}                a scrape: the whole server's text
//   primary → worker   {type: "budgetml:metrics-collect", id}        your own metrics
//   worker → primary   {type: "budgetml:metrics-part", id, metrics}  (prom-client's getMetricsAsJSON)
//   primary → worker   {type: "budgetml:metrics-answer", id, text | error}

const READY = "budgetml:metrics-ready";
const ASK = "budgetml:metrics";
const COLLECT = "budgetml:metrics-collect";
const PART = "budgetml:metrics-part";
const ANSWER = "budgetml:metrics-answer";
/** A worker that does not answer in this time fails the scrape (503): a partial sum would look like counters going back. */
const COLLECT_TIMEOUT_MS = 5000;

type Message = { type?: string; id?: number; text?: string; error?: string; metrics?: object[] };

/** In the cluster's primary: answers workers' scrapes with every ready worker's metrics merged. */
export function serveClusterMetrics(): void {
  const ready = new Set<Worker>();
  const collecting = new Map<number, (worker: Worker, message: Message) => void>();
  let nextId = 1;

  const collect = () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const workers = [...ready].filter((worker) => worker.isConnected());
      const parts = new Map<Worker, object[]>();
      const timer = setTimeout(() => {
        collecting.delete(id);
        reject(new Error(`${workers.length - parts.size} of ${workers.length} workers did not report in time`));
      }, COLLECT_TIMEOUT_MS);
      collecting.set(id, (worker, message) => {
        if (message.error !== undefined || !message.metrics) {
          collecting.delete(id);
          clearTimeout(timer);
          return reject(new Error(message.error ?? "a worker sent no metrics"));
        }
        parts.set(worker, message.metrics);
        if (parts.size < workers.length) return;
        collecting.delete(id);
        clearTimeout(timer);
        AggregatorRegistry.aggregate([...parts.values()])
          .metrics()
          .then(resolve, reject);
      });
      for (const worker of workers) worker.send({ type: COLLECT, id });
    });

  cluster.on("message", (worker: Worker, message: Message) => {
    if (message?.type === READY) ready.add(worker);
    else if (message?.type === PART) collecting.get(Number(message.id))?.(worker, message);
    else if (message?.type === ASK)
      collect().then(
        (text) => worker.isConnected() && worker.send({ type: ANSWER, id: message.id, text }),
        (error: Error) => worker.isConnected() && worker.send({ type: ANSWER, id: message.id, error: error.message }),
      );
  });
  cluster.on("exit", (worker) => ready.delete(worker));
}

/**
 * In a cluster worker: lets the primary collect `registry`, and returns what a scrape answers —
 * the whole server's metrics, from the primary. Rejects with 503 when they cannot be had.
 */
export function shareWithPrimary(registry: Registry): () => Promise<string> {
  const asking = new Map<number, { resolve(text: string): void; reject(error: Error): void }>();
  let nextId = 1;
  process.on("message", (message: Message) => {
    if (message?.type === COLLECT)
      registry.getMetricsAsJSON().then(
        (metrics) => process.send?.({ type: PART, id: message.id, metrics }),
        (error: Error) => process.send?.({ type: PART, id: message.id, error: error.message }),
      );
    else if (message?.type === ANSWER) {
      const scrape = asking.get(Number(message.id));
      if (!scrape) return;
      asking.delete(Number(message.id));
      if (message.text !== undefined) scrape.resolve(message.text);
      else
        scrape.reject(
          new HttpError(
            ERRORS.BUDGETML_METRICS_UNAVAILABLE,
            `The server's metrics could not be collected: ${message.error}`,
          ),
        );
    }
  });
  process.send?.({ type: READY });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        asking.delete(id);
        reject(
          new HttpError(
            ERRORS.BUDGETML_METRICS_UNAVAILABLE,
            "The server's metrics could not be collected: the primary process did not answer",
          ),
        );
      }, COLLECT_TIMEOUT_MS + 1000);
      asking.set(id, {
        resolve: (text) => (clearTimeout(timer), resolve(text)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      process.send?.({ type: ASK, id });
    });
}
