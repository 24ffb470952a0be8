// @ts-check
import js from "@eslint/js";
import pulumi from "@pulumi/eslint-plugin";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import importX from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

/**
 * Which parts of the tree each part may import (besides itself and npm packages): the import
 * directions ARCHITECTURE.md draws. Each deployable — the runtime, the VM's boot, the restarter —
 * reaches the others only through `contracts/`; `bundles/` packages their sources; the component
 * builds its artifacts with `bundles/`; the local engine evaluates the component and runs the VM's
 * boot as is. `index.ts`, `cli.ts`, `tests/`, `bench/`, `scripts/` and `examples/` sit on top:
 * nothing below imports them, and they may import anything.
 */
const MAY_IMPORT = {
  contracts: [],
  runtime: ["contracts"],
  functions: ["contracts"],
  images: ["contracts"],
  bundles: ["contracts", "runtime", "functions", "images"],
  components: ["contracts", "bundles"],
  local: ["contracts", "bundles", "components", "images"],
};
const ON_TOP = ["index.ts", "cli.ts", "tests", "bench", "scripts", "examples"];

/** `import-x/no-restricted-paths` zones: for each part, every other part it may not import. */
function boundaryZones() {
  return Object.entries(MAY_IMPORT).map(([part, allowed]) => {
    const forbidden = [...Object.keys(MAY_IMPORT), ...ON_TOP].filter(
      (other) => other !== part && !allowed.includes(other),
    );
    return {
      target: `./${part}`,
      from: forbidden.map((other) => `./${other}`),
      message: `${part}/ may import only ${allowed.length ? allowed.map((a) => `${a}/`).join(", ") : "npm packages"} (ARCHITECTURE.md, "Import directions").`,
    };
  });
}

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
    // The boundaries between parts, and no import cycles (type-only imports are not cycles: they vanish when compiled).
    files: ["**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      // Read TypeScript sources when following imports (no-cycle walks them), resolved as tsc does.
      "import-x/extensions": importX.flatConfigs.typescript.settings["import-x/extensions"],
      "import-x/parsers": importX.flatConfigs.typescript.settings["import-x/parsers"],
      "import-x/resolver-next": [createTypeScriptImportResolver()],
    },
    rules: {
      "import-x/no-restricted-paths": ["error", { basePath: import.meta.dirname, zones: boundaryZones() }],
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
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
    languageOptions: { parserOptions: { project: "./tsconfig.lint.json", tsconfigRootDir: import.meta.dirname } },
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
