// g4-server driven by the real client libraries from npm: the official OpenAI SDK and Ollama's
// JavaScript library (installed by scripts/deps_node.sh). Usage:
//   NODE_PATH=build/node/node_modules node tests/clients/check.mjs URL IMAGE.png
// Prints "ok"/"FAIL" lines and "test_clients: N passed, N failed". The model has random weights,
// so the checks are about protocol and structure: tool calls come from tool_choice "required"
// (constrained decoding), JSON from response_format / format, which must validate.
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';
const require = createRequire(path.resolve(process.env.NODE_PATH) + '/');
const OpenAI = require('openai').default ?? require('openai');
const { Ollama } = require('ollama');

const [URL, IMAGE] = process.argv.slice(2);
let pass = 0, fail = 0;
const ok = (name) => { pass++; console.log('ok   ' + name); };
const bad = (name, why) => { fail++; console.log('FAIL ' + name + (why ? ': ' + why : '')); };
const check = (name, cond, why) => (cond ? ok(name) : bad(name, why));
async function step(name, fn) {
  try { await fn(); } catch (e) { bad(name, 'threw ' + (e && (e.stack || e.message) || e)); }
}

const oai = new OpenAI({ baseURL: URL + '/v1', apiKey: 'none', maxRetries: 0, timeout: 120000 });
const ollama = new Ollama({ host: URL });
const png = fs.readFileSync(IMAGE).toString('base64');

const weather = {
  type: 'function',
  function: {
    name: 'get_weather', description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, unit: { type: 'string', enum: ['C', 'F'] } },
                  required: ['city', 'unit'] },
  },
};
const person = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 10 }, age: { type: 'integer' }, pets: { type: 'array', items: { enum: ['cat', 'dog'] }, maxItems: 3 }, ok: { type: 'boolean' } },
  required: ['name', 'age', 'ok'], additionalProperties: false,
};
function validPerson(v) {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not an object';
  for (const k of Object.keys(v)) if (!['name', 'age', 'pets', 'ok'].includes(k)) return 'extra key ' + k;
  if (typeof v.name !== 'string' || [...v.name].length > 10) return 'name';
  if (!Number.isInteger(v.age)) return 'age';
  if (typeof v.ok !== 'boolean') return 'ok';
  if (v.pets !== undefined && (!Array.isArray(v.pets) || v.pets.length > 3 || v.pets.some((p) => p !== 'cat' && p !== 'dog'))) return 'pets';
  return null;
}
const user = (content) => ({ role: 'user', content });

// ---- OpenAI SDK ------------------------------------------------------------------------------
await step('openai chat', async () => {
  const r = await oai.chat.completions.create({ model: 'g4', messages: [user('Hello')], max_tokens: 8, temperature: 0 });
  check('openai chat: content is a string', typeof r.choices[0].message.content === 'string');
  check('openai chat: usage', r.usage.completion_tokens > 0 && r.usage.prompt_tokens > 0);
  check('openai chat: no channel markers in content', !/<\|?channel\|?>|<\|tool_call>/.test(r.choices[0].message.content));
});
await step('openai chat stream', async () => {
  const s = await oai.chat.completions.create({ model: 'g4', messages: [user('Hello')], max_tokens: 8, stream: true, stream_options: { include_usage: true } });
  let text = '', usage = null, finish = null, n = 0;
  for await (const c of s) {
    n++;
    if (c.choices[0]?.delta?.content) text += c.choices[0].delta.content;
    if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
    if (c.usage) usage = c.usage;
  }
  check('openai stream: chunks and finish_reason', n >= 2 && finish === 'length', `n=${n} finish=${finish}`);
  check('openai stream: usage', usage && usage.completion_tokens === 8, JSON.stringify(usage));
});
await step('openai completions', async () => {
  const r = await oai.completions.create({ model: 'g4', prompt: 'Once upon a time', max_tokens: 6, temperature: 0, logprobs: 2 });
  check('openai completions: text', typeof r.choices[0].text === 'string' && r.choices[0].text.length > 0);
  const lp = r.choices[0].logprobs;
  check('openai completions: logprobs', lp && lp.tokens.length === 6 && lp.token_logprobs.every((x) => x <= 0) && lp.top_logprobs.length === 6,
        JSON.stringify(lp)?.slice(0, 200));
});
await step('openai image part', async () => {
  const r = await oai.chat.completions.create({ model: 'g4', max_tokens: 4,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,' + png } }] }] });
  check('openai image: answered', typeof r.choices[0].message.content === 'string' && r.usage.prompt_tokens > 20, JSON.stringify(r.usage));
});
await step('openai tool round trip', async () => {
  const messages = [user('What is the weather in Paris?')];
  const r = await oai.chat.completions.create({ model: 'g4', messages, tools: [weather], tool_choice: 'required', max_tokens: 64 });
  const m = r.choices[0].message, tc = m.tool_calls?.[0];
  check('openai tools: finish_reason tool_calls', r.choices[0].finish_reason === 'tool_calls', r.choices[0].finish_reason);
  check('openai tools: one call of get_weather', m.tool_calls?.length === 1 && tc.type === 'function' && tc.function.name === 'get_weather' && tc.id,
        JSON.stringify(m));
  let args = null;
  try { args = JSON.parse(tc.function.arguments); } catch (e) { /* checked below */ }
  check('openai tools: arguments follow the schema', args && typeof args.city === 'string' && ['C', 'F'].includes(args.unit), tc?.function?.arguments);
  // feed the result back (the assistant message as the SDK returned it)
  messages.push(m, { role: 'tool', tool_call_id: tc.id, content: JSON.stringify({ temp: 21, unit: args?.unit }) });
  const r2 = await oai.chat.completions.create({ model: 'g4', messages, tools: [weather], max_tokens: 8 });
  check('openai tools: answer after the tool result', typeof r2.choices[0].message.content === 'string' && r2.usage.prompt_tokens > r.usage.prompt_tokens,
        JSON.stringify(r2.usage));
  const named = await oai.chat.completions.create({ model: 'g4', messages: [user('x')], tools: [weather, { type: 'function', function: { name: 'now' } }],
    tool_choice: { type: 'function', function: { name: 'now' } }, max_tokens: 32 });
  check('openai tools: named tool_choice', named.choices[0].message.tool_calls?.[0]?.function?.name === 'now'
        && named.choices[0].message.tool_calls[0].function.arguments === '{}', JSON.stringify(named.choices[0].message));
});
await step('openai tool stream', async () => {
  const s = await oai.chat.completions.create({ model: 'g4', messages: [user('Weather in Rome?')], tools: [weather], tool_choice: 'required', max_tokens: 64, stream: true });
  const calls = [];
  let finish = null;
  for await (const c of s) {
    for (const t of c.choices[0]?.delta?.tool_calls ?? []) {
      calls[t.index] ??= { name: '', args: '' };
      if (t.function?.name) calls[t.index].name += t.function.name;
      if (t.function?.arguments) calls[t.index].args += t.function.arguments;
    }
    if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
  }
  let args = null;
  try { args = JSON.parse(calls[0]?.args); } catch (e) { /* below */ }
  check('openai tool stream: call assembled from deltas', calls.length === 1 && calls[0].name === 'get_weather' && args && typeof args.city === 'string' && finish === 'tool_calls',
        JSON.stringify(calls) + ' ' + finish);
});
await step('openai json_schema', async () => {
  for (let i = 0; i < 3; i++) {
    const r = await oai.chat.completions.create({ model: 'g4', messages: [user('A person, as JSON')], max_tokens: 200, temperature: 1, seed: 7 + i,
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema: person, strict: true } } });
    let v = null, why;
    try { v = JSON.parse(r.choices[0].message.content); why = validPerson(v); } catch (e) { why = 'not JSON: ' + r.choices[0].message.content; }
    check('openai json_schema: output validates (seed ' + (7 + i) + ')', why === null, why);
  }
  // json_object has unbounded keys and strings: random weights may not close them within
  // max_tokens. A finished answer must parse as an object; a cut one must be an object's prefix.
  const r = await oai.chat.completions.create({ model: 'g4', messages: [user('JSON please')], max_tokens: 200, response_format: { type: 'json_object' } });
  const jo = r.choices[0].message.content;
  let v = null;
  try { v = JSON.parse(jo); } catch (e) { /* below */ }
  check('openai json_object: an object (or, cut by max_tokens, its prefix)',
        r.choices[0].finish_reason === 'length' ? jo.startsWith('{') : v && typeof v === 'object' && !Array.isArray(v), `${r.choices[0].finish_reason}: ${jo.slice(0, 100)}`);
});
await step('openai logprobs', async () => {
  const r = await oai.chat.completions.create({ model: 'g4', messages: [user('Hi')], max_tokens: 5, logprobs: true, top_logprobs: 3 });
  const c = r.choices[0].logprobs?.content;
  check('openai logprobs: one entry per token, 3 alternatives, sorted', c && c.length === 5 && c.every((e) => e.logprob <= 0 && e.top_logprobs.length === 3
        && e.top_logprobs[0].logprob >= e.top_logprobs[2].logprob && e.logprob <= e.top_logprobs[0].logprob + 1e-4), JSON.stringify(c)?.slice(0, 300));
});
async function expect400(name, body) {
  try {
    await oai.chat.completions.create({ model: 'g4', max_tokens: 4, messages: [user('x')], ...body });
    bad(name, 'no error');
  } catch (e) {
    check(name, e.status === 400 && /\S/.test(e.message), `${e.status} ${e.message}`);
  }
}
await expect400('openai 400: unsupported schema keyword', { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '^a' } } } });
await expect400('openai 400: invalid schema', { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'nonsense' } } } });
await expect400('openai 400: unknown tool in tool_choice', { tools: [weather], tool_choice: { type: 'function', function: { name: 'nope' } } });
await expect400('openai 400: unknown tool in a call', { tools: [weather], messages: [user('x'), { role: 'assistant', tool_calls: [{ id: 'a', type: 'function', function: { name: 'nope', arguments: '{}' } }] }, { role: 'tool', tool_call_id: 'a', content: 'r' }] });

// ---- Ollama JS ------------------------------------------------------------------------------
await step('ollama list/show/ps/version', async () => {
  const l = await ollama.list();
  check('ollama list: one model', l.models.length === 1 && l.models[0].name && l.models[0].details.format === 'gguf', JSON.stringify(l));
  const s = await ollama.show({ model: l.models[0].name });
  check('ollama show: template and capabilities', typeof s.template === 'string' && s.template.includes('tool_call') && s.capabilities.includes('tools'), JSON.stringify(s.capabilities));
  const p = await ollama.ps();
  check('ollama ps', p.models.length === 1 && p.models[0].size > 0, JSON.stringify(p));
  const v = await ollama.version();
  check('ollama version', typeof v.version === 'string' && v.version.length > 0, JSON.stringify(v));
});
await step('ollama chat', async () => {
  const r = await ollama.chat({ model: 'g4', messages: [user('Hello')], stream: false, options: { num_predict: 6, temperature: 0, seed: 1 } });
  check('ollama chat: done with stats', r.done && r.done_reason === 'length' && r.eval_count === 6 && r.prompt_eval_count > 0 && r.total_duration > 0 && r.eval_duration > 0 && r.load_duration > 0,
        JSON.stringify({ ...r, message: undefined }));
  check('ollama chat: message', r.message.role === 'assistant' && typeof r.message.content === 'string');
  const s = await ollama.chat({ model: 'g4', messages: [user('Hello')], stream: true, options: { num_predict: 6, temperature: 0, seed: 1 } });
  let text = '', last = null;
  for await (const c of s) { text += c.message.content; last = c; }
  check('ollama chat stream: same greedy text, final chunk', text === r.message.content && last.done && last.done_reason === 'length' && last.eval_count === 6,
        JSON.stringify([text, r.message.content, last]));
});
await step('ollama generate + images', async () => {
  const r = await ollama.generate({ model: 'g4', prompt: 'Describe', images: [png], stream: false, options: { num_predict: 4 } });
  check('ollama generate: response and stats', typeof r.response === 'string' && r.done && r.prompt_eval_count > 20, JSON.stringify({ ...r, context: undefined }));
  const s = await ollama.generate({ model: 'g4', prompt: 'Hi', stream: true, options: { num_predict: 4 } });
  let n = 0, last = null;
  for await (const c of s) { n++; last = c; }
  check('ollama generate stream', n >= 2 && last.done && last.eval_count === 4, `n=${n}`);
});
await step('ollama format + think + logprobs', async () => {
  const r = await ollama.chat({ model: 'g4', messages: [user('A person')], format: person, stream: false, options: { num_predict: 200, seed: 3 } });
  let why;
  try { why = validPerson(JSON.parse(r.message.content)); } catch (e) { why = 'not JSON: ' + r.message.content; }
  check('ollama format schema: output validates', why === null, why);
  const j = await ollama.chat({ model: 'g4', messages: [user('x')], format: 'json', stream: false, options: { num_predict: 200 } });
  let v = null;
  try { v = JSON.parse(j.message.content); } catch (e) { /* below */ }
  check('ollama format json: an object (or, cut by num_predict, its prefix)',
        j.done_reason === 'length' ? j.message.content.startsWith('{') : v && typeof v === 'object', `${j.done_reason}: ${j.message.content.slice(0, 100)}`);
  const t = await ollama.chat({ model: 'g4', messages: [user('x')], think: true, stream: false, options: { num_predict: 6 } });
  check('ollama think: accepted, no markers in content', t.done && !/<\|?channel/.test(t.message.content), JSON.stringify(t.message));
  // seeded: unseeded, the random-weight fixture sometimes draws an end-of-turn token before the 4th,
  // which ends the reply, correctly, with fewer than 4 entries (seeds 1-1500: only seed 202, " Pseudo"
  // then end-of-turn, the exact reply of the one unseeded failure seen in make test)
  const l = await ollama.chat({ model: 'g4', messages: [user('x')], logprobs: true, top_logprobs: 2, stream: false, options: { num_predict: 4, seed: 3 } });
  check('ollama logprobs', Array.isArray(l.logprobs) && l.logprobs.length === 4 && l.logprobs.every((e) => e.logprob <= 0 && e.top_logprobs.length === 2), JSON.stringify(l.logprobs)?.slice(0, 200));
});
await step('ollama tool round trip', async () => {
  const r = await ollama.chat({ model: 'g4', stream: false, tools: [weather], options: { num_predict: 6 },
    messages: [user('Weather in Paris?'), { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris', unit: 'C' } } }] },
               { role: 'tool', content: '21 degrees', tool_name: 'get_weather' }] });
  check('ollama tools: answer after a tool result', r.done && typeof r.message.content === 'string' && r.prompt_eval_count > 40, JSON.stringify({ ...r, message: undefined }));
  try {
    await ollama.chat({ model: 'g4', stream: false, messages: [user('x')], format: { type: 'string', pattern: 'a' } });
    bad('ollama 400: unsupported schema', 'no error');
  } catch (e) {
    check('ollama 400: unsupported schema', e.status_code === 400 && /pattern/.test(e.error ?? e.message), `${e.status_code} ${e.error ?? e.message}`);
  }
});

console.log(`test_clients: ${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
