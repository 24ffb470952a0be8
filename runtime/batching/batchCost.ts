/**
 * What a batch costs the model, learnt from the batches it ran: duration ≈ `perRequestMs` × size +
 * `fixedMs`, fitted by least squares over the most recent batches (as BentoML's dispatcher does,
 * `_internal/marshal/dispatcher.py`). `fixedMs` is what batching saves: every request that joins a
 * batch instead of running in one of its own saves the model that much.
 */
export class BatchCost {
  private readonly sizes: number[] = [];
  private readonly durations: number[] = [];
  private fit: { perRequestMs: number; fixedMs: number } | undefined;

  /** @param kept how many recent batches the fit uses */
  constructor(private readonly kept = 50) {}

  /** Records a batch the model ran. */
  record(size: number, durationMs: number): void {
    this.sizes.push(size);
    this.durations.push(durationMs);
    if (this.sizes.length > this.kept) {
      this.sizes.shift();
      this.durations.shift();
    }
    this.fit = undefined;
  }

  /**
   * The per-batch cost, once any batch ran. While every batch had the same size the two parts
   * cannot be told apart, and the whole mean duration counts as fixed: the batcher may then wait
   * for a second request once, which gives the fit its second size.
   */
  get fixedMs(): number | undefined {
    return this.solve()?.fixedMs;
  }

  /** The cost of each request in a batch, once batches of two sizes ran. */
  get perRequestMs(): number | undefined {
    return this.solve()?.perRequestMs;
  }

  private solve() {
    const n = this.sizes.length;
    if (n === 0) return undefined;
    if (this.fit) return this.fit;
    const meanSize = this.sizes.reduce((a, b) => a + b, 0) / n;
    const meanMs = this.durations.reduce((a, b) => a + b, 0) / n;
    let covariance = 0;
    let variance = 0;
    for (let i = 0; i < n; i += 1) {
      covariance += (this.sizes[i] - meanSize) * (this.durations[i] - meanMs);
      variance += (this.sizes[i] - meanSize) ** 2;
    }
    if (variance === 0) return (this.fit = { perRequestMs: 0, fixedMs: meanMs });
    const perRequestMs = Math.max(0, covariance / variance);
    return (this.fit = { perRequestMs, fixedMs: Math.max(0, meanMs - perRequestMs * meanSize) });
  }
}
