// @ts-check
/**
 * The composer's request options: "Answer in JSON" (`responseFormat: {type: "json"}`, any text model)
 * and tools the model may call (`tools`, models with the `tools` capability), typed as JSON.
 *
 * The chat shows a tool call the model makes (answer_parts.js); it does not run the tool: this is a
 * place to see what a model would call, the app's own code runs tools (README "Tools").
 */

import { h } from "./dom.js";

/** @typedef {{ name: string, description?: string, parameters?: Record<string, unknown> }} ToolSpec */

const EXAMPLE = `[{"name": "get_weather", "description": "Current weather in a city",
  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]`;

/**
 * Tools from the text of the tools field: a JSON list of `{name, description, parameters}`, or of
 * OpenAI's `{type: "function", function: {...}}`. Throws an Error saying what is wrong.
 * @param {string} text
 * @returns {ToolSpec[] | null}  null: no tools
 */
export function parseTools(text) {
  if (!text.trim()) return null;
  /** @type {unknown} */
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`Tools: not valid JSON (${err instanceof Error ? err.message : err}).`);
  }
  const list = Array.isArray(value) ? value : [value];
  return list.map((item, i) => {
    const spec = item && typeof item === "object" && "function" in item ? /** @type {any} */ (item).function : item;
    if (!spec || typeof spec !== "object" || typeof spec.name !== "string") throw new Error(`Tools: item ${i + 1} needs a "name".`);
    const { name, description, parameters } = /** @type {ToolSpec} */ (spec);
    return { name, ...(description ? { description } : {}), ...(parameters ? { parameters } : {}) };
  });
}

/** The options' controls, and what they add to a request. */
export function composerOptions() {
  const json = /** @type {HTMLInputElement} */ (h("input", { id: "chat-json", type: "checkbox" }));
  const tools = /** @type {HTMLTextAreaElement} */ (
    h("textarea", { id: "chat-tools", rows: 4, spellcheck: false, placeholder: EXAMPLE, "aria-describedby": "chat-tools-note" })
  );
  const toolsField = h(
    "div",
    { id: "chat-tools-field", className: "field" },
    h("label", { htmlFor: "chat-tools" }, "Tools the model may call (JSON list)"),
    tools,
    h("span", { id: "chat-tools-note", className: "meta" }, "The answer shows each call the model makes; the chat does not run tools."),
  );
  const box = h(
    "details",
    { id: "chat-options", className: "chat-options" },
    h("summary", {}, "Answer format and tools"),
    h("label", { className: "check" }, json, " Answer in JSON"),
    toolsField,
  );
  return {
    box,
    /** Tools are offered for models that can call them. @param {boolean} on */
    offerTools(on) {
      toolsField.hidden = !on;
    },
    /** Whether the next answer is asked as JSON. */
    get json() {
      return json.checked;
    },
    /**
     * The request fields these options add; throws an Error for tools that are not valid.
     * @returns {{ responseFormat?: { type: "json" }, tools?: ToolSpec[] }}
     */
    fields() {
      const list = toolsField.hidden ? null : parseTools(tools.value);
      return { ...(json.checked ? { responseFormat: /** @type {const} */ ({ type: "json" }) } : {}), ...(list ? { tools: list } : {}) };
    },
  };
}
