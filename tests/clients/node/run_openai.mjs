// The official openai node SDK, as its README shows it, against the gateway.
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import {
  BASE_URL, EMBED_MODEL, IMAGE_URL, LIMITED_MODEL, MODEL, REPLY, TOKEN, TOOL_ANSWER, TOOL_RESULT, WEATHER_TOOL,
  expect, expectStatus, run,
} from './common.mjs';

const client = new OpenAI({ baseURL: BASE_URL, apiKey: TOKEN, maxRetries: 0, timeout: 60_000 });
const HI = [{ role: 'user', content: 'Say hello' }];
const City = z.object({ city: z.string(), country: z.string() });

async function roundTrip(tool) {
  const messages = [{ role: 'user', content: 'Weather in Paris?' }];
  const first = await client.chat.completions.create({ model: MODEL, messages, tools: [tool] });
  const call = first.choices[0].message.tool_calls[0];
  expect(call.function.name === 'get_weather' && JSON.parse(call.function.arguments).city === 'Paris', `tool call ${JSON.stringify(call)}`);
  messages.push(first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: TOOL_RESULT });
  const second = await client.chat.completions.create({ model: MODEL, messages, tools: [tool] });
  expect(second.choices[0].message.content === TOOL_ANSWER, `final ${second.choices[0].message.content}`);
}

const responsesTool = { type: 'function', name: 'get_weather', parameters: WEATHER_TOOL.function.parameters, strict: false };

await run('openai-node', {
  plain: async () => {
    const answer = await client.chat.completions.create({ model: MODEL, messages: HI });
    expect(answer.choices[0].message.content === REPLY, `content ${answer.choices[0].message.content}`);
    return answer.id;
  },
  stream: async () => {
    let text = '';
    for await (const chunk of await client.chat.completions.create({ model: MODEL, messages: HI, stream: true })) {
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    expect(text === REPLY, `streamed ${text}`);
  },
  include_usage: async () => {
    let usage;
    const stream = await client.chat.completions.create({ model: MODEL, messages: HI, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    expect(usage?.completion_tokens > 0, `usage ${JSON.stringify(usage)}`);
    return `completion_tokens=${usage.completion_tokens}`;
  },
  tools: () => roundTrip(WEATHER_TOOL),
  tools_strict: () => roundTrip({ ...WEATHER_TOOL, function: { ...WEATHER_TOOL.function, strict: true } }),
  stream_tools: async () => {
    const messages = [{ role: 'user', content: 'Weather in Paris?' }];
    const first = await client.chat.completions.stream({ model: MODEL, messages, tools: [WEATHER_TOOL] }).finalChatCompletion();
    const call = first.choices[0].message.tool_calls[0];
    expect(call.function.name === 'get_weather' && JSON.parse(call.function.arguments).city === 'Paris', `tool call ${JSON.stringify(call)}`);
    messages.push(first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: TOOL_RESULT });
    const second = await client.chat.completions.stream({ model: MODEL, messages, tools: [WEATHER_TOOL] }).finalChatCompletion();
    expect(second.choices[0].message.content === TOOL_ANSWER, `final ${second.choices[0].message.content}`);
  },
  structured: async () => {
    const answer = await client.chat.completions.parse({
      model: MODEL, messages: [{ role: 'user', content: 'Where is the Eiffel tower?' }], response_format: zodResponseFormat(City, 'city'),
    });
    expect(answer.choices[0].message.parsed?.city === 'Paris', `parsed ${JSON.stringify(answer.choices[0].message.parsed)}`);
  },
  image: async () => {
    const content = [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: IMAGE_URL } }];
    const answer = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content }] });
    expect(answer.choices[0].message.content === REPLY, 'answer to an image');
  },
  history: async () => {
    const messages = [{ role: 'user', content: 'hi' }];
    const first = await client.chat.completions.create({ model: MODEL, messages });
    messages.push(first.choices[0].message, { role: 'user', content: 'again' });
    const second = await client.chat.completions.create({ model: MODEL, messages });
    expect(second.choices[0].message.content === REPLY, 'second answer');
  },
  responses_text: async () => {
    const answer = await client.responses.create({ model: MODEL, input: 'Say hello' });
    expect(answer.output_text === REPLY, `output_text ${answer.output_text}`);
  },
  responses_stream: async () => {
    let text = '';
    const kinds = new Set();
    for await (const event of await client.responses.create({ model: MODEL, input: 'Say hello', stream: true })) {
      kinds.add(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    expect(text === REPLY && kinds.has('response.completed'), `streamed ${text}, events ${[...kinds]}`);
  },
  responses_tools: async () => {
    const first = await client.responses.create({ model: MODEL, input: 'Weather in Paris?', tools: [responsesTool] });
    const calls = first.output.filter((item) => item.type === 'function_call');
    expect(calls.length === 1 && JSON.parse(calls[0].arguments).city === 'Paris', `output ${JSON.stringify(first.output)}`);
    const input = [{ role: 'user', content: 'Weather in Paris?' }, ...calls, { type: 'function_call_output', call_id: calls[0].call_id, output: TOOL_RESULT }];
    const second = await client.responses.create({ model: MODEL, input, tools: [responsesTool] });
    expect(second.output_text === TOOL_ANSWER, `final ${second.output_text}`);
  },
  embeddings: async () => {
    const answer = await client.embeddings.create({ model: EMBED_MODEL, input: ['one', 'two'] });
    expect(answer.data.length === 2 && answer.data[0].embedding.length > 0, 'two vectors');
  },
  models: async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids.includes(MODEL) && (await client.models.retrieve(MODEL)).id === MODEL, `listed ${ids}`);
    return `${ids.length} models`;
  },
  bad_token: () => expectStatus(
    () => new OpenAI({ baseURL: BASE_URL, apiKey: 'not-a-token', maxRetries: 0 }).chat.completions.create({ model: MODEL, messages: HI }), 401),
  rate_limit: () => expectStatus(() => client.chat.completions.create({ model: LIMITED_MODEL, messages: HI }), 429),
});
