import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * Where Swagger UI's files are: in the VM's runtime bundle they ship as `swagger-ui/` beside
 * `server.cjs`; running from source they come from the swagger-ui-dist package.
 */
export function swaggerUiAssetDir(): string {
  const bundled = join(__dirname, "swagger-ui");
  if (existsSync(join(bundled, "swagger-ui-bundle.js"))) return bundled;
  return dirname(require.resolve("swagger-ui-dist/package.json"));
}

/** The Swagger UI files the docs page loads (all a bundle needs to copy). */
export const SWAGGER_UI_FILES = [
  "swagger-ui.css",
  "swagger-ui-bundle.js",
  "swagger-ui-standalone-preset.js",
  "favicon-32x32.png",
];
