// `npm test`: the static checks (tsc, Prettier and ESLint, TypeDoc) one after the other, beside Jest.
// Much of Jest's run is waiting on the processes it tests (boots, roll-outs, preemptions), so the
// checks use cores Jest leaves idle instead of adding their own minutes in front of it. Jest's
// output streams as it runs; each check's is printed whole when it ends, so the two never interleave.
// Arguments go to Jest (`npm test -- -t "refuses JSON logins"`). The exit code is the first failure's.
import { spawn } from "node:child_process";

const STATIC_CHECKS = ["typecheck", "lint", "docs:check"];

/** Runs `npm run <script>`; `buffered` collects its output instead of passing it through. */
function npmRun(script, args, buffered) {
  const child = spawn("npm", ["run", "--silent", script, ...(args.length ? ["--", ...args] : [])], {
    stdio: buffered ? ["ignore", "pipe", "pipe"] : "inherit",
  });
  let output = "";
  if (buffered) for (const stream of [child.stdout, child.stderr]) stream.on("data", (chunk) => (output += chunk));
  return new Promise((resolve) =>
    child.on("close", (code, signal) => resolve({ script, code: code ?? (signal ? 1 : 0), output })),
  );
}

async function staticChecks() {
  for (const script of STATIC_CHECKS) {
    const started = Date.now();
    const { code, output } = await npmRun(script, [], true);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    process.stdout.write(`\n> npm run ${script}: ${code === 0 ? "passed" : `FAILED (exit ${code})`} in ${seconds} s\n`);
    if (output.trim()) process.stdout.write(`${output.trimEnd()}\n`);
    if (code !== 0) return code;
  }
  return 0;
}

const [checks, jest] = await Promise.all([staticChecks(), npmRun("jest", process.argv.slice(2), false)]);
if (checks !== 0) process.stdout.write(`\nnpm test: a static check failed (above: "FAILED")\n`);
process.exitCode = checks || jest.code;
