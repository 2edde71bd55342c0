// The official `openai` npm client against a running jvllm server.
// Started by launcher's OpenAiNodeClientTest with JVLLM_BASE_URL, JVLLM_MODEL and JVLLM_GOLDEN set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';

const baseURL = process.env.JVLLM_BASE_URL;
const model = process.env.JVLLM_MODEL;
const golden = JSON.parse(readFileSync(process.env.JVLLM_GOLDEN, 'utf8'));
const client = new OpenAI({ baseURL, apiKey: process.env.JVLLM_API_KEY ?? 'unused', maxRetries: 0 });

test('completion, greedy, equals the golden text', async () => {
  for (const g of golden) {
    const r = await client.completions.create({ model, prompt: g.prompt, max_tokens: 40, temperature: 0 });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0].text, g.greedy_text);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, 40);
  }
});

test('streamed completion equals the non-streamed one', async () => {
  const g = golden[0];
  const stream = await client.completions.create({ model, prompt: g.prompt, max_tokens: 40, temperature: 0, stream: true });
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(text, g.greedy_text);
  assert.equal(finish, 'length');
});

test('chat completion, streamed and not, agree', async () => {
  const messages = [{ role: 'user', content: 'Tell me a story about a dog.' }];
  const r = await client.chat.completions.create({ model, messages, max_tokens: 20, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(r.choices[0].message.content.length > 0);
  const stream = await client.chat.completions.create({ model, messages, max_tokens: 20, temperature: 0, stream: true });
  let content = '';
  for await (const chunk of stream) {
    content += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(content, r.choices[0].message.content);
});

test('n > 1 with a seed is reproducible', async () => {
  const req = { model, prompt: 'The little dog', max_tokens: 12, temperature: 1.0, n: 3, seed: 1234 };
  const a = await client.completions.create(req);
  const b = await client.completions.create(req);
  assert.equal(a.choices.length, 3);
  assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
  assert.deepEqual(a.choices.map((c) => c.index).sort(), [0, 1, 2]);
});

test('logprobs for completions and chat', async () => {
  const r = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 5, temperature: 0, logprobs: 2 });
  const lp = r.choices[0].logprobs;
  assert.equal(lp.tokens.length, 5);
  assert.equal(lp.token_logprobs.length, 5);
  assert.equal(lp.text_offset.length, 5);
  assert.ok(lp.token_logprobs.every((x) => x <= 0));
  assert.ok(lp.top_logprobs.every((m) => Object.keys(m).length >= 1));
  const c = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 2,
  });
  const content = c.choices[0].logprobs.content;
  assert.ok(content.length >= 1);
  assert.equal(content[0].top_logprobs.length, 2);
});

test('stop strings end the text before the stop', async () => {
  const g = golden[0];
  const stop = ' girl';
  const r = await client.completions.create({ model, prompt: g.prompt, max_tokens: 40, temperature: 0, stop: [stop] });
  const expected = g.greedy_text.slice(0, g.greedy_text.indexOf(stop));
  assert.equal(r.choices[0].text, expected);
  assert.equal(r.choices[0].finish_reason, 'stop');
});

test('bad requests raise the client\'s typed errors', async () => {
  await assert.rejects(
    client.completions.create({ model, prompt: 'hi', max_tokens: 0 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400,
  );
  await assert.rejects(
    client.completions.create({ model: 'no-such-model', prompt: 'hi' }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404,
  );
});
