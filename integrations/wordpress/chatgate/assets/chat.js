/* chatgate chat box for WordPress: the demo page's client (demo/www/app.js)
 * for every .chatgate-box[data-state="ready"] on the page. It sends a
 * message to chatgate's chat path on this site and shows the answer as it
 * streams. Safety rules this file keeps:
 *  - model text is only ever put on the page with textContent: never
 *    innerHTML, never as a link, image or any element that loads something;
 *  - the page never sees the session token (the cookie is HttpOnly) and
 *    stores nothing in localStorage or sessionStorage;
 *  - it talks only to its own origin, and needs no inline script (its words
 *    come from the box's data-strings attribute), so a strict CSP holds. */
'use strict';

(function () {
    function format(template, args) {
        return String(template).replace(/%(?:(\d+)\$)?s/g, function (all, i) {
            const v = args[i ? Number(i) - 1 : 0];
            return v === undefined ? all : String(v);
        });
    }

    /* Structured fields of the IETF RateLimit draft, one item per policy:
     *   RateLimit-Policy: "rpm";q=20;w=60   RateLimit: "rpm";r=19;t=42 */
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

    /* Server-Sent Events from a fetch body: onEvent(name, data) per event;
     * comments (": ping") are skipped. */
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

    function box(root) {
        let s = {};
        try {
            s = JSON.parse(root.dataset.strings || '{}');
        } catch (e) {
            s = {};
        }
        const path = root.dataset.chatPath || '/api/chat';
        const log = root.querySelector('.chatgate-log');
        const form = root.querySelector('.chatgate-form');
        const input = root.querySelector('.chatgate-message');
        const send = root.querySelector('.chatgate-send');
        const status = root.querySelector('.chatgate-status');
        const limits = root.querySelector('.chatgate-limits');

        function entry(role, label, text) {
            const li = document.createElement('li');
            li.className = 'chatgate-' + role;
            const who = document.createElement('span');
            who.className = 'chatgate-who';
            who.textContent = label;
            const body = document.createElement('div');
            body.className = 'chatgate-text';
            body.textContent = text;
            li.append(who, body);
            log.append(li);
            li.scrollIntoView({ block: 'nearest' });
            return body;
        }

        /* The session is gone (expired, logged out in another tab): say so
         * above the form, with the site's login link (from the server's
         * data-login-url, never from an answer). */
        function askLogin() {
            root.dataset.state = 'login';
            if (root.querySelector('.chatgate-notice') || !root.dataset.loginUrl) {
                return;
            }
            const p = document.createElement('p');
            p.className = 'chatgate-notice';
            const a = document.createElement('a');
            a.className = 'chatgate-login';
            a.href = root.dataset.loginUrl;
            a.textContent = s.login_link;
            p.append(s.login + ' ', a);
            root.insertBefore(p, form);
        }

        function showError(text) {
            entry('error', s.error, text);
        }

        function showLimits(headers) {
            const quota = rateItems(headers.get('RateLimit-Policy'), 'q');
            const left = rateItems(headers.get('RateLimit'), 'r');
            if ('rpm' in quota && 'rpm' in left) {
                limits.textContent = format(s.left, [left.rpm, quota.rpm]);
            }
        }

        function retryText(headers) {
            const n = parseInt(headers && headers.get('Retry-After'), 10);
            if (!(n >= 0)) {
                return s.retry_later;
            }
            return n === 1 ? s.retry_one : format(s.retry_many, [n]);
        }

        /* Words a user understands, by HTTP status or by error type. */
        function errorText(code, type, message, headers) {
            if (code === 401 || type === 'authentication_error') {
                askLogin();
                return s.login;
            }
            if (type === 'budget_exceeded') {
                return s.budget + ' ' + retryText(headers);
            }
            if (code === 429 || type === 'rate_limited') {
                return s.rate + ' ' + retryText(headers);
            }
            if (code === 403) {
                return s.forbidden;
            }
            if (code === 413) {
                return s.too_long;
            }
            if (code === 400) {
                return format(s.invalid, [message || s.invalid_any]);
            }
            if (code >= 500 || /^(upstream|service)_/.test(type || '')) {
                return s.unavailable;
            }
            return format(s.refused, [message || format(s.status, [code])]);
        }

        async function streamAnswer(res) {
            const out = entry('assistant', s.assistant, '');
            out.parentNode.dataset.mode = 'stream';
            let finished = false;
            await readEvents(res.body, function (name, data) {
                if (name === 'delta' && typeof data.text === 'string') {
                    out.textContent += data.text;
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
                showError(s.cut_off);
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
                const out = entry('assistant', s.assistant, data.text);
                out.parentNode.dataset.mode = 'json';
                out.parentNode.dataset.done = '1';
                return;
            }
            const e = (data && data.error) || {};
            showError(errorText(res.status, e.type, e.message, res.headers));
        }

        async function ask(message) {
            const res = await fetch(path, {
                method: 'POST',
                credentials: 'same-origin',
                cache: 'no-store',
                headers: {
                    'Content-Type': 'application/json',
                    'Accept': 'text/event-stream, application/json'
                },
                body: JSON.stringify({ message: message, stream: true })
            });
            showLimits(res.headers);
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
            entry('user', s.you, message);
            input.value = '';
            send.disabled = true;
            status.textContent = s.waiting;
            try {
                await ask(message);
            } catch (e) {
                showError(s.unreachable);
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
    }

    function start() {
        document.querySelectorAll('.chatgate-box[data-state="ready"]').forEach(box);
    }

    if (document.readyState === 'loading') {
        document.addEventListener('DOMContentLoaded', start);
    } else {
        start();
    }
})();
