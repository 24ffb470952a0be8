// @ts-check
import js from "@eslint/js";
import pulumi from "@pulumi/eslint-plugin";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", "coverage/", "**/.budgetml/", "**/.build/", "docs/api/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...nodeGlobals() } },
    rules: {
      // `_name` marks a binding that is there for its position or to drop a key from a rest object.
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
    },
  },
  {
    // CommonJS files (jest setup, fixtures, the runtime's worker shims) use require and module.
    files: ["**/*.cjs", "**/*.js"],
    languageOptions: { sourceType: "commonjs" },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // Tests load modules after mocks and environment are in place (Pulumi requires the mocks first).
    files: ["tests/**/*.ts"],
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // Pulumi's own rules need type information: only where Outputs are handled.
    files: ["components/**/*.ts", "index.ts", "local/**/*.ts"],
    plugins: { "@pulumi": pulumi },
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@pulumi/no-output-in-template-literal": "error",
      "@pulumi/no-output-instance-in-template-literal": "error",
    },
  },
);

/** Node's globals, as read-only names (no extra dependency for the `globals` package). */
function nodeGlobals() {
  const names = [
    "process",
    "Buffer",
    "console",
    "require",
    "module",
    "exports",
    "__dirname",
    "__filename",
    "setTimeout",
    "clearTimeout",
    "setInterval",
    "clearInterval",
    "setImmediate",
    "clearImmediate",
    "URL",
    "URLSearchParams",
    "fetch",
    "AbortController",
    "AbortSignal",
    "TextEncoder",
    "TextDecoder",
    "performance",
    "structuredClone",
    "queueMicrotask",
    "Response",
    "Request",
    "Headers",
    "FormData",
    "Blob",
    "globalThis",
  ];
  return Object.fromEntries(names.map((name) => [name, "readonly"]));
}
