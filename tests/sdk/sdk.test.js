// The official SDKs (openai, @anthropic-ai/sdk, pinned in package-lock.json)
// against chatgate's provider-compatible endpoints, unchanged but for
// baseURL and the key (a cgt_ service token). tests/t/76-sdk.t runs one
// scenario per call and checks what it prints (one JSON line) together
// with chatgate's usage log and the mock provider's view:
//
//   node sdk.test.js SCENARIO '{"model": ..., ...}'
//
// Environment: CG_ORIGIN (http://127.0.0.1:PORT of the front nginx),
// CG_PREFIX (/api/llm), CG_TOKEN (the service token), CG_MOCK_STATS (the
// mock's /_mock/stats URL, for the abort scenarios).
'use strict';

const OpenAI = require('openai');
const Anthropic = require('@anthropic-ai/sdk');

const origin = process.env.CG_ORIGIN;
const prefix = process.env.CG_PREFIX || '/api/llm';
// The scenario's arguments; "batch" runs several, one after the other.
let arg = JSON.parse(process.argv[3] || '{}');
const token = () => arg.token || process.env.CG_TOKEN;

// After an abort: milliseconds until the mock provider counts one more
// connection closed early than arg.before (the upstream call ended), or
// null if it does not within 10 s.
async function upstreamClosedMs(t0) {
  while (Date.now() - t0 < 10000) {
    const st = await (await fetch(process.env.CG_MOCK_STATS)).json();
    if (st.closed_early > arg.before) {
      return Date.now() - t0;
    }
    await new Promise((ok) => setTimeout(ok, 10));
  }
  return null;
}

// Every HTTP exchange the SDK makes, for the retry scenarios.
const seen = [];
async function recordingFetch(url, init) {
  const t0 = Date.now();
  const res = await fetch(url, init);
  seen.push({ status: res.status, at: t0,
              retry_after: res.headers.get('retry-after'),
              should_retry: res.headers.get('x-should-retry') });
  return res;
}

// The one-line change of docs/sdk.md: baseURL, and the token as the key.
function openai(opts = {}) {
  return new OpenAI({ baseURL: `${origin}${prefix}/v1`, apiKey: token(),
                      fetch: recordingFetch, maxRetries: 0, ...opts });
}

function anthropic(opts = {}) {
  return new Anthropic({ baseURL: `${origin}${prefix}`, apiKey: token(),
                         fetch: recordingFetch, maxRetries: 0, ...opts });
}

function msgs() {
  return arg.messages || [{ role: 'user', content: arg.text || 'Hello SDK' }];
}

// What a typed SDK error looks like, for the test to check.
function errorOf(e, mod) {
  return {
    error: e.constructor.name,
    status: e.status,
    is_api_error: e instanceof mod.APIError,
    type: e.error && ((e.error.error && e.error.error.type) || e.error.type),
    code: e.code || (e.error && e.error.code),
    message: e.message,
  };
}

const scenarios = {
  async 'openai-plain'() {
    const c = await openai().chat.completions.create({
      model: arg.model, messages: msgs(), ...(arg.extra || {}) });
    return { text: c.choices[0].message.content, role: c.choices[0].message.role,
             finish_reason: c.choices[0].finish_reason, usage: c.usage,
             object: c.object, id: c.id, model: c.model };
  },

  async 'openai-stream'() {
    const deltas = [];
    const s = openai().chat.completions.stream({
      model: arg.model, messages: msgs(),
      stream_options: { include_usage: true } });
    s.on('content', (d) => deltas.push(d));
    const c = await s.finalChatCompletion();
    return { text: c.choices[0].message.content, deltas: deltas.length,
             finish_reason: c.choices[0].finish_reason, usage: c.usage,
             object: c.object };
  },

  async 'openai-abort'() {
    const s = openai().chat.completions.stream({
      model: arg.model, messages: msgs() });
    let got = '';
    let t0;
    try {
      for await (const chunk of s) {
        got += chunk.choices[0] && chunk.choices[0].delta.content || '';
        if (got.length > 0 && !t0) {
          t0 = Date.now();
          s.abort();
        }
      }
    } catch (e) {
      return { aborted: e.constructor.name, got,
               closed_ms: await upstreamClosedMs(t0) };
    }
    return { aborted: null, got };
  },

  async 'anthropic-plain'() {
    const m = await anthropic().messages.create({
      model: arg.model, max_tokens: arg.max_tokens || 100, messages: msgs(),
      ...(arg.extra || {}) });
    return { text: m.content.map((b) => b.text).join(''), type: m.type,
             role: m.role, stop_reason: m.stop_reason, usage: m.usage,
             id: m.id, model: m.model };
  },

  async 'anthropic-stream'() {
    const events = [];
    let text = '';
    const s = anthropic().messages.stream({
      model: arg.model, max_tokens: 100, messages: msgs() });
    s.on('streamEvent', (e) => events.push(e.type));
    s.on('text', (t) => { text += t; });
    const m = await s.finalMessage();
    return { text: m.content.map((b) => b.text).join(''), streamed: text,
             events, stop_reason: m.stop_reason, usage: m.usage };
  },

  async 'anthropic-abort'() {
    const s = anthropic().messages.stream({
      model: arg.model, max_tokens: 100, messages: msgs() });
    let got = '';
    let t0;
    s.on('text', (t) => {
      got += t;
      if (!t0) {
        t0 = Date.now();
        s.abort();
      }
    });
    try {
      await s.finalMessage();
    } catch (e) {
      return { aborted: e.constructor.name, got,
               closed_ms: await upstreamClosedMs(t0) };
    }
    return { aborted: null, got };
  },

  // A rate limit of one request per window: the second call is the SDK's
  // typed RateLimitError (no retries), the third, with the SDK's default
  // retries, waits Retry-After and gets its answer. One process, so the
  // three calls fall in one window.
  async 'anthropic-ratelimit'() {
    const body = { model: arg.model, max_tokens: 50, messages: msgs() };
    const first = await anthropic().messages.create(body);
    let refused;
    try {
      await anthropic().messages.create(body);
    } catch (e) {
      refused = errorOf(e, Anthropic);
    }
    seen.length = 0;
    const m = await anthropic({ maxRetries: 3 }).messages.create(body);
    return { first: first.content[0].text, refused, text: m.content[0].text,
             seen: seen.slice() };
  },
};

async function run(name) {
  const mod = name.startsWith('openai') ? OpenAI : Anthropic;
  let out;
  seen.length = 0;
  try {
    out = await scenarios[name]();
  } catch (e) {
    out = errorOf(e, mod);
  }
  out.requests = seen.length;
  out.statuses = seen.map((s) => s.status);
  return out;
}

// node sdk.test.js batch '[["openai-plain", {...}], ...]': one JSON array
// of results, so many short calls share one Node start.
async function main() {
  const name = process.argv[2];
  let out;
  if (name === 'batch') {
    out = [];
    for (const [scenario, a] of JSON.parse(process.argv[3])) {
      arg = a;
      out.push(await run(scenario));
    }
  } else {
    out = await run(name);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ crash: String(e && e.stack) }) + '\n');
});
