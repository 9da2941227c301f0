// How the browser tests start Debian's chromium (tests/browser/chat.test.js,
// tests/browser/wordpress.test.js,
// tests/diff/diff.test.js): headless, no sandbox (CI containers), nothing
// that talks to the network on its own. Playwright gives each launch a
// fresh, empty profile directory.
'use strict';

module.exports = function launch(chromium) {
    return chromium.launch({
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
               '--no-first-run', '--disable-background-networking',
               '--disable-component-update', '--disable-sync'],
    });
};
