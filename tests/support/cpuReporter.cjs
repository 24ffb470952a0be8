// A Jest reporter for finding where the suite's CPU goes: after each test file, one line with its
// wall time, the CPU of the Jest process and of the child processes it waited for (from
// /proc/self/stat; processes that outlive their parent are not counted), its passing tests and its
// path. Run it in band, so each file's CPU is its own:
//   npm run jest -- [paths] --runInBand --reporters=default --reporters=./tests/support/cpuReporter.cjs
// Lines go to stderr, or to the file named by BUDGET_CPU_REPORT.
const { appendFileSync, readFileSync } = require("node:fs");
const { relative } = require("node:path");

const CLOCK_TICKS_PER_SECOND = 100; // Linux's USER_HZ

/** The CPU seconds of this process and of its waited-for children, from /proc/self/stat. */
function cpuSeconds() {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // utime, stime, cutime, cstime: 11–14
  const ticks = (i) => Number(fields[i]) / CLOCK_TICKS_PER_SECOND;
  return { own: ticks(11) + ticks(12), children: ticks(13) + ticks(14) };
}

class CpuReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
    this.started = new Map();
  }

  onTestFileStart(test) {
    this.started.set(test.path, { at: Date.now(), cpu: cpuSeconds() });
  }

  onTestFileResult(test, result) {
    const start = this.started.get(test.path);
    if (!start) return;
    const cpu = cpuSeconds();
    const line = [
      `${((Date.now() - start.at) / 1000).toFixed(1)} s wall`,
      `${(cpu.own - start.cpu.own).toFixed(1)} s jest`,
      `${(cpu.children - start.cpu.children).toFixed(1)} s children`,
      `${result.numPassingTests} passed`,
      relative(this.rootDir, test.path),
    ].join("\t");
    if (process.env.BUDGET_CPU_REPORT) appendFileSync(process.env.BUDGET_CPU_REPORT, `${line}\n`);
    else process.stderr.write(`${line}\n`);
  }
}

module.exports = CpuReporter;
