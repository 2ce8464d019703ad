// @ts-check
/**
 * Server-sent events read incrementally from a fetch body, as the HTML spec parses them:
 * lines may be split across network chunks, `\r\n`, `\r` or `\n` end them, `:` lines are
 * comments (the gateway's `: keep-alive`), several `data:` lines join with `\n`.
 */

/**
 * @typedef {object} ServerEvent
 * @property {string} event  `message` unless the server named it (`error`)
 * @property {string} data
 */

/**
 * Parse an SSE byte stream into events as they complete.
 * @param {ReadableStream<Uint8Array>} body
 * @returns {AsyncGenerator<ServerEvent>}
 */
export async function* readEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new EventParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    yield* parser.push(decoder.decode());
    yield* parser.end();
  } finally {
    // Leaving early (break, an error, an abort) cancels the body: the connection closes
    // and the gateway closes its upstream call.
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/** Incremental SSE parser: feed it text, take the complete events. */
export class EventParser {
  constructor() {
    this.buffer = "";
    this.event = "";
    /** @type {string[]} */
    this.data = [];
    this.pendingCR = false;
  }

  /**
   * @param {string} text the next piece of the stream, cut anywhere
   * @returns {ServerEvent[]} the events this piece completed
   */
  push(text) {
    if (this.pendingCR && text.startsWith("\n")) text = text.slice(1); // a \r\n split across chunks
    this.pendingCR = false;
    this.buffer += text;
    /** @type {ServerEvent[]} */
    const out = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer[i];
      if (ch !== "\n" && ch !== "\r") continue;
      const line = this.buffer.slice(start, i);
      if (ch === "\r") {
        if (i + 1 === this.buffer.length) this.pendingCR = true;
        else if (this.buffer[i + 1] === "\n") i++;
      }
      start = i + 1;
      const event = this.line(line);
      if (event) out.push(event);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  /** @returns {ServerEvent[]} an event left without its blank line when the stream ended */
  end() {
    const out = [];
    if (this.buffer) {
      const event = this.line(this.buffer);
      if (event) out.push(event);
      this.buffer = "";
    }
    const last = this.line("");
    if (last) out.push(last);
    return out;
  }

  /**
   * @param {string} line
   * @returns {ServerEvent | null}
   */
  line(line) {
    if (line === "") {
      if (this.data.length === 0) {
        this.event = "";
        return null;
      }
      const event = { event: this.event || "message", data: this.data.join("\n") };
      this.event = "";
      this.data = [];
      return event;
    }
    if (line.startsWith(":")) return null; // a comment: keep-alive
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    return null;
  }
}
