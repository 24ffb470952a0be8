/**
 * Run from an npm script (`npm start`), calls `stop` once npm is gone. npm exits on SIGTERM
 * without passing it on to the script's process, which would otherwise keep the whole local
 * deployment running, orphaned. Outside npm this does nothing, so `nohup budgetml local …` and
 * other deliberate detaching keep working.
 */
export function stopWhenNpmExits(stop: () => void, env: NodeJS.ProcessEnv = process.env, intervalMs = 250): () => void {
  if (!env.npm_lifecycle_event) return () => {};
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    stop();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
