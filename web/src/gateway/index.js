// @ts-check
/** The gateway's web client: `import { createGateway } from "./gateway/index.js"`. */
export { createGateway, tokenExpiry } from "./client.js";
export { GatewayError, parseRetryAfter } from "./errors.js";
export { EventParser, readEvents } from "./sse.js";

/** @typedef {import("./client.js").Gateway} Gateway */
/** @typedef {import("./client.js").StreamEvent} StreamEvent */
/** @typedef {import("./client.js").ResponseInfo} ResponseInfo */
