// The SSE parser, fed the gateway's real stream shapes cut at every possible place.
import assert from "node:assert/strict";
import { test } from "node:test";

import { EventParser, readEvents } from "../src/gateway/sse.js";

const STREAM =
  'data: {"content":"Hel"}\n\n' +
  ": keep-alive\n\n" +
  'data: {"content":"lo"}\n\n' +
  "event: error\n" +
  'data: {"error":{"code":"PROVIDER_ERROR","message":"m","details":{}}}\n\n' +
  "data: [DONE]\n\n";

const EXPECTED = [
  { event: "message", data: '{"content":"Hel"}' },
  { event: "message", data: '{"content":"lo"}' },
  { event: "error", data: '{"error":{"code":"PROVIDER_ERROR","message":"m","details":{}}}' },
  { event: "message", data: "[DONE]" },
];

/** @param {string[]} pieces */
function parse(pieces) {
  const parser = new EventParser();
  const out = pieces.flatMap((piece) => parser.push(piece));
  return [...out, ...parser.end()];
}

test("one piece", () => {
  assert.deepEqual(parse([STREAM]), EXPECTED);
});

test("cut at every position into two pieces", () => {
  for (let i = 0; i <= STREAM.length; i++) {
    assert.deepEqual(parse([STREAM.slice(0, i), STREAM.slice(i)]), EXPECTED, `cut at ${i}`);
  }
});

test("one character at a time, with CRLF and CR line ends", () => {
  for (const eol of ["\r\n", "\r"]) {
    const text = STREAM.replace(/\n/g, eol);
    assert.deepEqual(parse([...text]), EXPECTED, JSON.stringify(eol));
  }
});

test("multi-line data, a field without a space, and an unterminated last event", () => {
  const events = parse(["data:a\ndata: b\n\nid: 7\nretry: 10\ndata: c"]);
  assert.deepEqual(events, [
    { event: "message", data: "a\nb" },
    { event: "message", data: "c" },
  ]);
});

test("comments alone make no event", () => {
  assert.deepEqual(parse([": keep-alive\n\n: keep-alive\n\n"]), []);
});

test("readEvents decodes UTF-8 split inside a character across network chunks", async () => {
  const bytes = new TextEncoder().encode('data: {"content":"héllo 🔥"}\n\n');
  const body = new ReadableStream({
    start(controller) {
      for (const byte of bytes) controller.enqueue(new Uint8Array([byte]));
      controller.close();
    },
  });
  const events = [];
  for await (const event of readEvents(body)) events.push(event);
  assert.deepEqual(events, [{ event: "message", data: '{"content":"héllo 🔥"}' }]);
});

test("leaving readEvents early cancels the body", async () => {
  let cancelled = false;
  const body = new ReadableStream({
    pull(controller) {
      controller.enqueue(new TextEncoder().encode('data: {"content":"x"}\n\n'));
    },
    cancel() {
      cancelled = true;
    },
  });
  for await (const event of readEvents(body)) {
    assert.equal(event.data, '{"content":"x"}');
    break;
  }
  assert.equal(cancelled, true);
});
