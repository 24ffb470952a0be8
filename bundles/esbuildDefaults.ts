import type { BuildOptions } from "esbuild";

/** The Node.js the bundled programs run on (the runtime on the VM, the CLI on a user's machine). */
export const NODE_TARGET = "node20";

/**
 * Options every bundle we ship is built with.
 *
 * `alwaysStrict: false`: esbuild otherwise starts a bundle built from strict TypeScript with a
 * file-wide `"use strict"`, which also puts the CommonJS dependencies inlined into it in strict
 * mode. Sloppy-mode packages then break in the bundle but not from node_modules — passport's
 * `AuthenticationError` reads `arguments.callee` and threw on every failed bearer login.
 * Our own modules are type-checked TypeScript, so they lose nothing by it.
 */
export const BUNDLE_DEFAULTS = {
  bundle: true,
  platform: "node",
  format: "cjs",
  target: NODE_TARGET,
  logLevel: "silent",
  legalComments: "none",
  tsconfigRaw: { compilerOptions: { alwaysStrict: false } },
} as const satisfies BuildOptions;
