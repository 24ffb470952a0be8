// Every error the runtime answers, by its stable code: the one registry that the code raising an
// error names (`new HttpError(ERRORS.X, message)`), the error handler writes into the answer
// (`"code"`), and the errors table of docs/http-api.md is generated from (`npm run docs:errors`;
// tests/docs/errorsDoc.test.ts fails when the page is stale). A code, once published, never
// changes meaning: clients branch on it. Messages may be reworded; codes may not.

/** What the docs say of one error code. */
export interface ErrorDefinition {
  /** The HTTP status it is answered with; `"4xx"`: the status the predictor gave. */
  readonly status: number | "4xx";
  /** When the runtime answers it (Markdown). */
  readonly when: string;
  /** The `error` message as the runtime words it, `…` for what varies (Markdown). */
  readonly says: string;
  /** Headers and body fields it comes with besides `error`, `code` and `requestId` (Markdown). */
  readonly also?: string;
  /** What the client should do about it (Markdown). */
  readonly action: string;
}

const RETRY = "retry after `Retry-After` seconds";

/** The error codes, in the order the docs list them (by status). */
const DEFINITIONS = {
  BUDGETML_JSON_MALFORMED: {
    status: 400,
    when: "the body is not valid JSON (or a bare value rather than an object or array)",
    says: "`Malformed JSON: …`",
    action: "send valid JSON",
  },
  BUDGETML_JSON_TOO_DEEP: {
    status: 400,
    when: "JSON nested deeper than 64 levels: refused before it is parsed",
    says: "`JSON nested deeper than 64 levels; flatten the payload`",
    action: "flatten the payload",
  },
  BUDGETML_JSON_TOO_MANY_KEYS: {
    status: 400,
    when: "JSON holding more than 100,000 object keys: refused before it is parsed",
    says: "`JSON with more than 100000 object keys; send fewer`",
    action: "send fewer keys (e.g. arrays instead of objects), or split the request",
  },
  BUDGETML_UPLOAD_MALFORMED: {
    status: 400,
    when: "a malformed multipart body, or an upload past multer's part limits",
    says: "`Malformed multipart body: …`, `Malformed upload: …`",
    action: "send one file as `multipart/form-data` (as `curl -F request=@file` does)",
  },
  BUDGETML_BODY_ABORTED: {
    status: 400,
    when: "the client aborted the body",
    says: "`The client aborted the request`",
    action: "send the request again",
  },
  BUDGETML_BODY_LENGTH_MISMATCH: {
    status: 400,
    when: "the body's length does not match `Content-Length`",
    says: "`The body's length does not match Content-Length`",
    action: "send a `Content-Length` that matches the body (or let the HTTP client set it)",
  },
  BUDGETML_GRANT_TYPE_UNSUPPORTED: {
    status: 400,
    when: "`POST /token` with a `grant_type` other than empty or `password`",
    says: '`Unsupported grant_type "…": only "password" is supported`',
    action: "send `grant_type=password`, or leave it out",
  },
  BUDGETML_LOGIN_INCORRECT: {
    status: 401,
    when: "`POST /token` with a wrong username or password",
    says: "`Incorrect username or password`",
    also: "`WWW-Authenticate: Bearer`",
    action: "check the credentials (`pulumi stack output password --show-secrets`); failures count towards the 429",
  },
  BUDGETML_NOT_AUTHENTICATED: {
    status: 401,
    when: "a missing, malformed, expired or forged token (the header only: a token in the URL or the body is refused)",
    says: "`Not authenticated: send Authorization: Bearer <access_token from POST /token>` (prefixed `Tokens in the URL are not accepted.` for one in the URL)",
    also: "`WWW-Authenticate: Bearer`",
    action: "log in again (`POST /token`) and send `Authorization: Bearer <access_token>`",
  },
  BUDGETML_NOT_FOUND: {
    status: 404,
    when: "no such route (paths are case-sensitive), or no such asset of the docs page",
    says: "`No route GET /x; the API is described at /docs`, `No docs asset /x`",
    action: "use a path listed at `/docs`",
  },
  BUDGETML_METHOD_NOT_ALLOWED: {
    status: 405,
    when: "a method other than POST on `/token` or a predict route",
    says: "`GET is not allowed on /predict; use POST`",
    also: "`Allow: POST`",
    action: "use POST",
  },
  BUDGETML_BODY_TIMEOUT: {
    status: 408,
    when: "a prediction's body not received within `BUDGET_BODY_TIMEOUT_MS`",
    says: "`The request body did not arrive within … ms`",
    also: "the connection is closed",
    action: "send smaller bodies, or raise `BUDGET_BODY_TIMEOUT_MS`",
  },
  BUDGETML_BODY_TOO_SLOW: {
    status: 408,
    when: "a prediction's body arriving, after its first second, slower than `BUDGET_BODY_MIN_BYTES_PER_SECOND`",
    says: "`The request body arrived slower than … bytes/s (…)`",
    also: "the connection is closed",
    action: "send the body at once rather than trickled",
  },
  BUDGETML_BODY_TOO_LARGE: {
    status: 413,
    when: "a body over `BUDGET_MAX_BODY_BYTES`",
    says: "`Body too large: the limit is … bytes`",
    action: "send a smaller body, or raise `BUDGET_MAX_BODY_BYTES`",
  },
  BUDGETML_FILE_TOO_LARGE: {
    status: 413,
    when: "an upload on `/predict_image` over `BUDGET_MAX_FILE_BYTES`",
    says: "`File too large: the limit is … bytes`",
    action: "send a smaller file, or raise `BUDGET_MAX_FILE_BYTES`",
  },
  BUDGETML_TOO_MANY_FIELDS: {
    status: 413,
    when: "a form with too many fields",
    says: "`Too many form fields`",
    action: "send only the fields the endpoint reads",
  },
  BUDGETML_CONTENT_TYPE_UNSUPPORTED: {
    status: 415,
    when: "a body of another content type than the endpoint reads (or none)",
    says: "`Expected …; got …`",
    action: "send the content type the message names",
  },
  BUDGETML_CHARSET_UNSUPPORTED: {
    status: 415,
    when: "JSON in a charset other than UTF-8",
    says: '`JSON must be UTF-8; got charset …` (`unsupported charset "…"` for a compressed body)',
    action: "send UTF-8 (`Content-Type: application/json` without a charset is UTF-8)",
  },
  BUDGETML_ENCODING_UNSUPPORTED: {
    status: 415,
    when: "a `Content-Encoding` other than `gzip`, `deflate`, `br` or `identity`",
    says: 'body-parser\'s message (`unsupported content encoding "…"`)',
    action: "send the body uncompressed or gzip'd",
  },
  BUDGETML_FORM_FIELD_MISSING: {
    status: 422,
    when: "`POST /token` without a username or password",
    says: "`Missing form field(s): …`",
    action: "send `username` and `password`",
  },
  BUDGETML_PAYLOAD_INVALID: {
    status: 422,
    when: "a `/predict_dict` body that is not an object, or a `payload` that is not an object",
    says: '`The body must be a JSON object like {"payload": {...}}`, `"payload" must be a JSON object, got …`',
    action: 'send `{"payload": {...}}`',
  },
  BUDGETML_FILE_MISSING: {
    status: 422,
    when: "a `/predict_image` upload without a file",
    says: '`Missing file: send it as multipart/form-data in field "request" (or "file")`',
    action: "send the file in field `request` (or `file`)",
  },
  BUDGETML_FILE_FIELD_UNEXPECTED: {
    status: 422,
    when: "a `/predict_image` upload with its file in another field",
    says: '`Unexpected file field "…": send one file in field "request" (or "file")`',
    action: "send one file, in field `request` (or `file`)",
  },
  BUDGETML_LOGIN_RATE_LIMITED: {
    status: 429,
    when: "too many failed logins from this address (`BUDGET_MAX_FAILED_LOGINS` a minute)",
    says: "`Too many failed logins from this address; try again in … s`",
    also: "`Retry-After`",
    action: `${RETRY}, with the right credentials`,
  },
  BUDGETML_PREDICTOR_REJECTED: {
    status: "4xx",
    when: "the predictor refused the request itself: a TypeScript `Error` with a 4xx `status` thrown by `predict` (or in `predictBatch`'s results), or a Python exception with a 4xx `status_code` and `detail` (FastAPI's `HTTPException` or alike)",
    says: "its message or detail",
    action: "read the predictor's message: the request is the problem",
  },
  BUDGETML_CLIENT_CLOSED: {
    status: 499,
    when: "the client hung up while its prediction waited for a slot: no client reads it, the request log records it with status 499",
    says: "`The client closed the request while it waited for a slot`",
    action: "none (the client is gone)",
  },
  BUDGETML_INTERNAL: {
    status: 500,
    when: "`predict()` threw (a Python exception without a 4xx status included), or the server failed",
    says: "`Internal error: the details are in the server's log under this request id`",
    action: "quote the `requestId` to whoever runs the server: the error's text is in its log under that id",
  },
  BUDGETML_PYTHON_EXITED: {
    status: 500,
    when: "the Python process died during this prediction",
    says: "`The Python predictor process exited (…) during this prediction; it is being restarted`",
    action: "retry once; if it recurs, the predictor crashes the interpreter on this input (the log has its output)",
  },
  BUDGETML_PREDICTOR_LOADING: {
    status: 503,
    when: "the predictor's `load()` has not finished yet",
    says: "`The predictor is still loading; retry shortly`",
    also: '`Retry-After`, `"status": "starting"`',
    action: RETRY,
  },
  BUDGETML_PREDICTOR_LOAD_FAILED: {
    status: 503,
    when: "the predictor failed to load (told only to a request with a valid token)",
    says: "`The predictor failed to load: …`",
    also: '`"status": "load_failed"`',
    action: "do not retry: fix the predictor (or the machine) and deploy again",
  },
  BUDGETML_SHUTTING_DOWN: {
    status: 503,
    when: "the server is draining (SIGTERM: a preemption, a roll-out)",
    says: "`The server is shutting down; retry shortly`",
    also: '`Retry-After`, `"status": "draining"`',
    action: `${RETRY}: the next process (or the restarted VM) answers`,
  },
  BUDGETML_OVERLOADED: {
    status: 503,
    when: "the queue is full, or a prediction could not expect its slot within `BUDGET_MAX_QUEUE_WAIT_MS`",
    says: "`Server busy: too many predictions in progress; retry shortly`",
    also: '`Retry-After`, `"status": "overloaded"`',
    action: `${RETRY}, or send fewer predictions at once`,
  },
  BUDGETML_UPLOADS_OVERLOADED: {
    status: 503,
    when: "too many large uploads in progress, from this client or in all",
    says: "`Too many uploads in progress from this client; retry shortly`, `Too many uploads in progress; retry shortly`",
    also: '`Retry-After`, `"status": "overloaded"`',
    action: `${RETRY}, or send fewer large bodies at once`,
  },
  BUDGETML_PYTHON_RESTARTING: {
    status: 503,
    when: "the Python predictor's process is restarting",
    says: "`The Python predictor is restarting; retry shortly`",
    also: "`Retry-After`",
    action: RETRY,
  },
  BUDGETML_LOGIN_UNAVAILABLE: {
    status: 503,
    when: "logins briefly unavailable (the primary's login limiter did not answer)",
    says: "`Logins are unavailable for a moment; retry shortly`",
    also: "`Retry-After`",
    action: RETRY,
  },
  BUDGETML_METRICS_UNAVAILABLE: {
    status: 503,
    when: "`/metrics`: a worker did not answer within 5 s",
    says: "`The server's metrics could not be collected: …`",
    action: "scrape again",
  },
  BUDGETML_PREDICT_TIMEOUT: {
    status: 504,
    when: "`predict()` took longer than `BUDGET_PREDICT_TIMEOUT_MS`",
    says: "`predict() did not finish within … ms` (`predict() was abandoned past its timeout` for a Python prediction whose slot was freed)",
    action: "send smaller inputs, or raise `BUDGET_PREDICT_TIMEOUT_MS`",
  },
} as const satisfies Record<string, ErrorDefinition>;

/** A stable error code the runtime answers with, e.g. `BUDGETML_NOT_AUTHENTICATED`. */
export type ErrorCode = keyof typeof DEFINITIONS;

/** A registry entry with its code: what {@link HttpError} is built from. */
export type ErrorKind<Code extends ErrorCode = ErrorCode> = (typeof DEFINITIONS)[Code] & { readonly code: Code };

/** Every error code with its definition, keyed by the code: `new HttpError(ERRORS.BUDGETML_NOT_FOUND, …)`. */
export const ERRORS = Object.fromEntries(
  Object.entries(DEFINITIONS).map(([code, definition]) => [code, { ...definition, code }]),
) as { readonly [Code in ErrorCode]: ErrorKind<Code> };
