// @ts-check
/**
 * What an audit record changed, field by field: `[{ path: "config.temperature", old: 0.5, new: 1.5 }]`.
 *
 * Records hold the whole document before and after; an admin wants the few lines that differ.
 * Maps are walked (a path per leaf); lists and other values compare whole. Stamps every write
 * changes (updatedAt, ...) are left out, and a key's binding never shows its value.
 */

/** Fields every write stamps: a diff of them says nothing the row does not. */
const STAMPS = new Set(["updatedAt", "updatedBy", "lastAuditId", "createdAt", "createdBy"]);
/** Fields whose values never appear, only that they changed (old records may still hold them). */
const HIDDEN = new Set(["keyBinding", "apiKey"]);

/** @typedef {{ path: string, old: unknown, new: unknown, hidden?: boolean }} Change */

/** @param {unknown} v */
const isMap = (v) => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date) && typeof (/** @type {any} */ (v).toDate) !== "function";

/** A Firestore value as JSON-comparable data (Timestamps become ISO strings). @param {unknown} v @returns {unknown} */
export function plain(v) {
  if (v && typeof v === "object" && typeof (/** @type {any} */ (v).toDate) === "function") return /** @type {any} */ (v).toDate().toISOString();
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (isMap(v)) return Object.fromEntries(Object.entries(/** @type {object} */ (v)).map(([k, x]) => [k, plain(x)]));
  return v;
}

/**
 * @param {Record<string, unknown> | null | undefined} before
 * @param {Record<string, unknown> | null | undefined} after
 * @returns {Change[]}
 */
export function diff(before, after) {
  /** @type {Change[]} */
  const out = [];
  /** @param {string} prefix @param {unknown} a @param {unknown} b */
  function walk(prefix, a, b) {
    if ((isMap(a) || isMap(b)) && (isMap(a) || a == null) && (isMap(b) || b == null)) {
      a = a ?? {};
      b = b ?? {};
      const keys = [...new Set([...Object.keys(/** @type {object} */ (a)), ...Object.keys(/** @type {object} */ (b))])].sort();
      for (const key of keys) {
        if (!prefix && STAMPS.has(key)) continue;
        walk(prefix ? `${prefix}.${key}` : key, /** @type {any} */ (a)[key], /** @type {any} */ (b)[key]);
      }
      return;
    }
    if (JSON.stringify(a ?? null) === JSON.stringify(b ?? null)) return; // null and absent read the same
    const name = prefix.split(".").pop() ?? "";
    out.push(HIDDEN.has(name) ? { path: prefix, old: undefined, new: undefined, hidden: true } : { path: prefix, old: a, new: b });
  }
  walk("", plain(before ?? {}), plain(after ?? {}));
  return out;
}

/** A value as one short line: absent reads "(none)". @param {unknown} v */
export function show(v) {
  if (v === undefined || v === null) return "(none)";
  const text = JSON.stringify(v);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}
