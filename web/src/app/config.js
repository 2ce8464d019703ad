// @ts-check
/**
 * Where the app finds Firebase and the gateway.
 *
 * Hosting serves the project's web config at `/__/firebase/init.json`; an optional
 * `/gateway-config.json` (written by `make dev` and the tests, or put in `web/public/`)
 * may name the functions' URL, the emulators and App Check. Without a functions URL the
 * app calls `https://<region>-<project>.cloudfunctions.net`, the region being the one
 * the functions are deployed to: `./deploy.js`, generated from functions/gateway/deploy.py
 * by scripts/web_config.py whenever the app is built, so the two never disagree.
 */

import { REGION } from "./deploy.js";

/**
 * @typedef {object} AppConfig
 * @property {Record<string, string>} firebase
 * @property {string} functionsUrl
 * @property {{ auth: string, firestore: { host: string, port: number }, storage?: { host: string, port: number } } | null} emulators
 *   the Storage emulator is used by chat's image attachments (an older gateway-config.json may not name it)
 * @property {{ siteKey: string, debugToken?: string | boolean, limitedUse?: boolean } | null} appCheck
 *   App Check with reCAPTCHA Enterprise (docs/security.md, "App Check"); null: no App Check token is sent
 */

/** @param {string} path */
async function getJson(path) {
  try {
    const response = await fetch(path, { cache: "no-store" });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

/**
 * The app's configuration from Hosting's web config and the optional gateway-config.json.
 * @param {Record<string, string> | null} init  `/__/firebase/init.json`
 * @param {Partial<AppConfig> | null} local  `/gateway-config.json`
 * @returns {AppConfig}
 */
export function resolveConfig(init, local) {
  const firebase = local?.firebase ?? init;
  if (!firebase?.projectId) throw new Error("No Firebase config: serve this app with Firebase Hosting (or its emulator)");
  return {
    firebase,
    functionsUrl: local?.functionsUrl ?? `https://${REGION}-${firebase.projectId}.cloudfunctions.net`,
    emulators: local?.emulators ?? null,
    appCheck: local?.appCheck ?? null,
  };
}

/** @returns {Promise<AppConfig>} */
export async function loadConfig() {
  const [init, local] = await Promise.all([getJson("/__/firebase/init.json"), getJson("/gateway-config.json")]);
  return resolveConfig(init, local);
}

