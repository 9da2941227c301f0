// What the Node browser tests share (tests/browser/chat.test.js,
// tests/browser/wordpress.test.js): TAP lines with a last line
// "N passed, N failed" (exit 1 on a failure or on no test at all), and a
// recorder of everything a browser context sends and receives, for the
// leak and origin checks.
'use strict';

let n = 0;
let failed = 0;

function ok(cond, name, diag) {
    n++;
    if (!cond) {
        failed++;
    }
    console.log((cond ? 'ok ' : 'not ok ') + n + ' - ' + name);
    if (!cond && diag !== undefined) {
        console.log('# ' + String(diag).replace(/\n/g, '\n# '));
    }
}

function done() {
    console.log((n - failed) + ' passed, ' + failed + ' failed');
    process.exitCode = failed || n === 0 ? 1 : 0;
}

// Requests and responses go into seen as they complete; the promises come
// back so a test can wait for them. With opts.failed, a request that
// failed (an aborted route, a refused connection) is noted too. A context
// closed mid-request drops what was in flight.
function record(context, seen, opts = {}) {
    const pending = [];
    context.on('request', (req) => {
        pending.push(req.allHeaders().then((h) => {
            seen.push({ kind: 'request', url: req.url(), headers: h,
                        body: req.postData() || '' });
        }).catch(() => {}));
    });
    context.on('response', (res) => {
        pending.push((async () => {
            const h = await res.allHeaders();
            const body = await res.body().catch(() => Buffer.alloc(0));
            seen.push({ kind: 'response', url: res.url(), status: res.status(),
                        headers: h, body: body.toString('utf8') });
        })().catch(() => {}));
    });
    if (opts.failed) {
        context.on('requestfailed', (req) => {
            seen.push({ kind: 'failed', url: req.url(), headers: {}, body: '' });
        });
    }
    return pending;
}

module.exports = { ok, done, record };
