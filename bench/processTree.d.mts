// Types of bench/processTree.mjs for the TypeScript benchmarks.
export function childrenOf(pid: number): number[];
export function processTree(pid: number): number[];
export function treeCpuUs(pid: number): number;
export function treePeakRssKb(pid: number): number;
