// The Vercel AI SDK 6, as its docs show it: `node run_ai_sdk.mjs responses|chat|compatible` picks the provider call,
// @ai-sdk/openai's default openai(id) (the Responses API), openai.chat(id), or @ai-sdk/openai-compatible.
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { Output, embed, generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import {
  BASE_URL, EMBED_MODEL, IMAGE_B64, LIMITED_MODEL, MODEL, REPLY, TOKEN, TOOL_ANSWER, TOOL_RESULT, expect, expectStatus, run,
} from './common.mjs';

const mode = process.argv[2];
const CLIENTS = { responses: 'ai-sdk/openai', chat: 'ai-sdk/openai .chat()', compatible: 'ai-sdk/openai-compatible' };

function provider(apiKey) {
  if (mode === 'compatible') {
    const gateway = createOpenAICompatible({ name: 'gateway', baseURL: BASE_URL, apiKey, includeUsage: true });
    return { model: (id) => gateway(id), embedding: (id) => gateway.embeddingModel(id) };
  }
  const openai = createOpenAI({ baseURL: BASE_URL, apiKey });
  return { model: (id) => (mode === 'chat' ? openai.chat(id) : openai(id)), embedding: (id) => openai.embedding(id) };
}

const gateway = provider(TOKEN);
const model = gateway.model(MODEL);
const settings = { maxRetries: 0 };

function weather(strict) {
  return tool({ description: 'The weather in a city', inputSchema: z.object({ city: z.string() }), strict, execute: async () => TOOL_RESULT });
}

async function roundTrip(strict) {
  const result = await generateText({ ...settings, model, prompt: 'Weather in Paris?', tools: { get_weather: weather(strict) }, stopWhen: stepCountIs(3) });
  const calls = result.steps.flatMap((step) => step.toolCalls);
  expect(calls.length === 1 && calls[0].input.city === 'Paris', `tool calls ${JSON.stringify(calls)}`);
  expect(result.text === TOOL_ANSWER, `final ${result.text}`);
  return `${result.steps.length} steps`;
}

await run(CLIENTS[mode], {
  plain: async () => {
    const { text } = await generateText({ ...settings, model, prompt: 'Say hello' });
    expect(text === REPLY, `text ${text}`);
  },
  stream: async () => {
    const errors = [];
    const result = streamText({ ...settings, model, prompt: 'Say hello', onError: ({ error }) => errors.push(error) });
    let text = '';
    for await (const piece of result.textStream) text += piece;
    if (errors.length) throw errors[0];
    expect(text === REPLY, `streamed ${text}`);
  },
  include_usage: async () => {
    const errors = [];
    const result = streamText({ ...settings, model, prompt: 'Say hello', onError: ({ error }) => errors.push(error) });
    await result.consumeStream();
    if (errors.length) throw errors[0];
    const usage = await result.usage;
    expect(usage.outputTokens > 0, `usage ${JSON.stringify(usage)}`);
    return `outputTokens=${usage.outputTokens}`;
  },
  tools: () => roundTrip(undefined),
  tools_strict: () => roundTrip(true),
  stream_tools: async () => {
    const errors = [];
    const result = streamText({
      ...settings, model, prompt: 'Weather in Paris?', tools: { get_weather: weather(undefined) }, stopWhen: stepCountIs(3), onError: ({ error }) => errors.push(error),
    });
    const text = await result.text.catch((error) => { throw errors[0] ?? error; });
    if (errors.length) throw errors[0];
    const calls = (await result.steps).flatMap((step) => step.toolCalls);
    expect(calls.length === 1 && calls[0].input.city === 'Paris', `tool calls ${JSON.stringify(calls)}`);
    expect(text === TOOL_ANSWER, `final ${text}`);
  },
  structured: async () => {
    const { output } = await generateText({
      ...settings, model, prompt: 'Where is the Eiffel tower?', output: Output.object({ schema: z.object({ city: z.string(), country: z.string() }) }),
    });
    expect(output.city === 'Paris', `output ${JSON.stringify(output)}`);
  },
  image: async () => {
    const content = [{ type: 'text', text: 'What is this?' }, { type: 'image', image: Buffer.from(IMAGE_B64, 'base64'), mediaType: 'image/png' }];
    const { text } = await generateText({ ...settings, model, messages: [{ role: 'user', content }] });
    expect(text === REPLY, `text ${text}`);
  },
  history: async () => {
    const messages = [{ role: 'user', content: 'hi' }];
    const first = await generateText({ ...settings, model, messages });
    messages.push(...first.response.messages, { role: 'user', content: 'again' });
    const { text } = await generateText({ ...settings, model, messages });
    expect(text === REPLY, `second ${text}`);
  },
  embeddings: async () => {
    const { embedding } = await embed({ ...settings, model: gateway.embedding(EMBED_MODEL), value: 'one' });
    expect(embedding.length > 0, 'a vector');
    return `dims=${embedding.length}`;
  },
  bad_token: () => expectStatus(() => generateText({ ...settings, model: provider('not-a-token').model(MODEL), prompt: 'hi' }), 401),
  rate_limit: () => expectStatus(() => generateText({ ...settings, model: gateway.model(LIMITED_MODEL), prompt: 'hi' }), 429),
});
