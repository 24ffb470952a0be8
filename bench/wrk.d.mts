// Types of bench/wrk.mjs for the TypeScript benchmarks.
export function ensureWrk(): void;
export function runWrk(
  url: string,
  options: { body: string; contentType: string; token: string; connections: number; seconds: number },
): Promise<{ rps: number; p50: number; p99: number; requests: number; non2xx: number; socketErrors: number }>;
