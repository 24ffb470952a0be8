import express, { Router } from "express";
import { SWAGGER_UI_FILES, swaggerUiAssetDir } from "./docsAssets";
import { ERRORS, HttpError } from "../http/errors";

const error = { $ref: "#/components/schemas/Error" };
const errors = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((code) => [
      String(code),
      { description: ERROR_TEXT[code], content: { "application/json": { schema: error } } },
    ]),
  );
const ERROR_TEXT: Record<number, string> = {
  400: "Malformed body",
  401: "Missing, malformed, expired or forged token",
  413: "Body or file over the limit",
  415: "Wrong content type",
  422: "Missing or invalid field",
  429: "Too many failed logins",
  500: "predict() threw",
  503: "Not ready, draining or overloaded (see Retry-After)",
  504: "predict() timed out",
};
const predictResponses = {
  "200": { description: "What predict() returned" },
  ...errors(400, 401, 413, 415, 422, 500, 503, 504),
};

/** The OpenAPI 3 description of the runtime's API; Swagger UI renders it at /docs. */
export function openApiDocument(version: string) {
  return {
    openapi: "3.0.3",
    info: {
      title: "budgetml",
      version,
      description: "Log in with Authorize (username and password), then try the predict endpoints.",
    },
    components: {
      securitySchemes: {
        OAuth2PasswordBearer: { type: "oauth2", flows: { password: { tokenUrl: "token", scopes: {} } } },
      },
      schemas: {
        Error: {
          type: "object",
          properties: {
            error: { type: "string" },
            code: { type: "string", enum: Object.keys(ERRORS), description: "stable: see docs/http-api.md#errors" },
            requestId: { type: "string" },
          },
          required: ["error", "code"],
        },
        Payload: { type: "object", properties: { payload: { type: "object", additionalProperties: true } } },
        Token: {
          type: "object",
          properties: {
            access_token: { type: "string" },
            token_type: { type: "string" },
            expires_in: { type: "integer" },
          },
        },
      },
    },
    paths: {
      "/": {
        get: {
          summary: "Health: starting, ready, load_failed or draining",
          responses: { "200": { description: "Ready" }, "503": { description: "Not ready" } },
        },
      },
      "/token": {
        post: {
          summary: "OAuth2 password grant",
          requestBody: {
            required: true,
            content: {
              "application/x-www-form-urlencoded": {
                schema: {
                  type: "object",
                  required: ["username", "password"],
                  properties: {
                    grant_type: { type: "string" },
                    username: { type: "string" },
                    password: { type: "string", format: "password" },
                    scope: { type: "string" },
                    client_id: { type: "string" },
                    client_secret: { type: "string" },
                  },
                },
              },
            },
          },
          responses: {
            "200": {
              description: "A bearer token",
              content: { "application/json": { schema: { $ref: "#/components/schemas/Token" } } },
            },
            ...errors(401, 415, 422, 429),
          },
        },
      },
      "/predict": {
        post: {
          summary: "Generic: predict() gets the request itself",
          security: [{ OAuth2PasswordBearer: [] }],
          requestBody: { content: { "*/*": { schema: { type: "string", format: "binary" } } } },
          responses: predictResponses,
        },
      },
      "/predict_dict": {
        post: {
          summary: 'Dict: predict() gets {"payload": {...}}',
          security: [{ OAuth2PasswordBearer: [] }],
          requestBody: {
            required: true,
            content: { "application/json": { schema: { $ref: "#/components/schemas/Payload" } } },
          },
          responses: predictResponses,
        },
      },
      "/predict_image": {
        post: {
          summary: "Image: predict() gets the uploaded file",
          security: [{ OAuth2PasswordBearer: [] }],
          requestBody: {
            required: true,
            content: {
              "multipart/form-data": {
                schema: {
                  type: "object",
                  required: ["request"],
                  properties: { request: { type: "string", format: "binary" } },
                },
              },
            },
          },
          responses: predictResponses,
        },
      },
    },
  };
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>budgetml API</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css"><link rel="icon" href="docs/assets/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/swagger-ui-standalone-preset.js"></script>
<script src="docs/init.js"></script></body></html>`;

// Served as a file rather than inline so the Content-Security-Policy can forbid inline scripts.
// The token Authorize obtains stays in the page's memory: persisted, it would sit in localStorage
// for any script on this origin to read, long after the tab is closed.
const INIT = `window.ui = SwaggerUIBundle({ url: "openapi.json", dom_id: "#swagger-ui", presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "BaseLayout", persistAuthorization: false });`;

/**
 * Everything the docs page loads comes from this server; no other site may frame it (clickjacking
 * the Authorize form); Swagger UI's icons are inline SVG data URIs. Browsers must not guess types.
 */
export const DOCS_SECURITY_HEADERS = {
  "Content-Security-Policy":
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "X-Content-Type-Options": "nosniff",
};

/** `/openapi.json`, and Swagger UI at `/docs` with its assets served from this machine (no CDN). */
export function docsRoutes(version: string): Router {
  const router = Router({ caseSensitive: true });
  router.use(["/docs", "/openapi.json"], (_req, res, next) => {
    res.set(DOCS_SECURITY_HEADERS);
    next();
  });
  const document = JSON.stringify(openApiDocument(version));
  const assets = swaggerUiAssetDir();
  router.get("/openapi.json", (_req, res) => void res.type("application/json").send(document));
  router.get("/docs", (req, res) => {
    // Relative asset URLs resolve against /docs (no slash), so redirect /docs/ to it.
    if (req.path.endsWith("/")) return res.redirect(301, "../docs");
    res.type("html").send(PAGE);
  });
  router.get("/docs/init.js", (_req, res) => void res.type("application/javascript").send(INIT));
  router.use(
    "/docs/assets",
    (req, _res, next) =>
      next(
        SWAGGER_UI_FILES.includes(req.path.slice(1))
          ? undefined
          : new HttpError(ERRORS.BUDGETML_NOT_FOUND, `No docs asset ${req.path}`),
      ),
    express.static(assets, { index: false, maxAge: "1d" }),
  );
  return router;
}
