// What every node client script of the client matrix shares (see tests/clients/py/common.py): the stack's
// address from the environment, and one JSON line per feature: {"client", "feature", "ok", "detail", "seconds"}.
export const BASE_URL = process.env.GW_BASE_URL; // the openai function's /v1
export const TOKEN = process.env.GW_TOKEN; // a Firebase ID token (role user)
export const MODEL = process.env.GW_MODEL;
export const LIMITED_MODEL = process.env.GW_LIMITED_MODEL; // its provider answers every request 429
export const EMBED_MODEL = process.env.GW_EMBED_MODEL;
export const IMAGE_B64 = process.env.GW_IMAGE_B64;
export const IMAGE_URL = `data:image/png;base64,${IMAGE_B64}`;
export const REPLY = process.env.GW_REPLY;
export const CITY = JSON.parse(process.env.GW_CITY);
export const WEATHER_PARAMETERS = {
  type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false,
};
export const WEATHER_TOOL = {
  type: 'function', function: { name: 'get_weather', description: 'The weather in a city', parameters: WEATHER_PARAMETERS },
};
export const TOOL_RESULT = 'sunny';
export const TOOL_ANSWER = `Tool said: ${TOOL_RESULT}`;

export function expect(condition, message) {
  if (!condition) throw new Error(message);
}

/** The HTTP status a client's error carries, whatever the client calls it. */
export function statusOf(error) {
  for (const e of [error, error?.cause, error?.lastError, ...(error?.errors ?? [])]) {
    const status = e?.status ?? e?.statusCode;
    if (typeof status === 'number') return status;
  }
  return undefined;
}

export async function expectStatus(call, status) {
  try {
    await call();
  } catch (error) {
    const got = statusOf(error);
    expect(got === status, `expected HTTP ${status}, got ${error?.name} ${got}: ${String(error?.message).slice(0, 200)}`);
    return error?.name;
  }
  throw new Error(`expected HTTP ${status}, the call succeeded`);
}

export async function run(client, features) {
  for (const [feature, check] of Object.entries(features)) {
    let line;
    const started = performance.now();
    try {
      const detail = await check();
      line = { client, feature, ok: true, detail: String(detail ?? '').slice(0, 300) };
    } catch (error) {
      const where = (error?.stack ?? '').split('\n').find((l) => l.includes('/tests/clients/')) ?? '';
      line = { client, feature, ok: false, detail: `${error?.name}: ${String(error?.message).slice(0, 400)} ${where.trim()}` };
    }
    process.stdout.write(JSON.stringify({ ...line, seconds: Math.round(performance.now() - started) / 1000 }) + '\n');
  }
}
