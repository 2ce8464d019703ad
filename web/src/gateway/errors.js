// @ts-check
/** One error class for everything the gateway (or the network) answers badly. */

/**
 * An error answered by the gateway, in its one shape `{"error": {code, message, details}}`,
 * or raised by the client for a network failure (`NETWORK`) or an aborted call (`ABORTED`).
 */
export class GatewayError extends Error {
  /**
   * @param {object} init
   * @param {string} init.code        the gateway's code (`RATE_LIMITED`, `PERMISSION_DENIED`, ...)
   * @param {string} init.message     a message meant for people
   * @param {Record<string, unknown>} [init.details]  e.g. `{fields: [{field, message}]}` for a 400
   * @param {number} [init.status]    HTTP status (0 when no answer came)
   * @param {string | null} [init.requestId]  `X-Request-Id` of the answer: quote it in bug reports
   * @param {number | null} [init.retryAfter] seconds to wait, from `Retry-After` (429, 503)
   * @param {unknown} [init.cause]
   */
  constructor({ code, message, details = {}, status = 0, requestId = null, retryAfter = null, cause }) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "GatewayError";
    this.code = code;
    this.details = details;
    this.status = status;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }

  /** The fields a validation error names (empty for other errors). */
  get fields() {
    const fields = this.details?.fields;
    return Array.isArray(fields) ? fields.map((f) => String(f.field)) : [];
  }
}

/**
 * Seconds from a `Retry-After` header: delta-seconds or an HTTP date.
 * @param {string | null} value
 * @param {number} [now] ms since the epoch
 * @returns {number | null}
 */
export function parseRetryAfter(value, now = Date.now()) {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, (at - now) / 1000);
}

/**
 * A GatewayError from an error body the gateway sent (or anything else a server sent).
 * @param {unknown} body  the parsed JSON, or null when the body was not JSON
 * @param {{status?: number, requestId?: string | null, retryAfter?: number | null}} meta
 */
export function fromBody(body, meta) {
  const error = /** @type {any} */ (body)?.error;
  if (error && typeof error === "object" && typeof error.code === "string") {
    // The `openai` function answers OpenAI's shape: `code` in lower case, the field at fault as `param`.
    const openai = typeof error.type === "string" && !("details" in error);
    const fields = openai && typeof error.param === "string" ? { fields: [{ field: error.param, message: String(error.message) }] } : {};
    return new GatewayError({
      code: openai ? error.code.toUpperCase() : error.code,
      message: String(error.message ?? error.code),
      details: openai ? fields : error.details && typeof error.details === "object" ? error.details : {},
      ...meta,
    });
  }
  return new GatewayError({ code: "UNKNOWN", message: `Unexpected answer (HTTP ${meta.status ?? 0})`, ...meta });
}
