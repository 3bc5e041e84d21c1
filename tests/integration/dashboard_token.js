// dashboard_token.js - the dashboard of a coordinator with TLS and tokens, in a real browser
// (Debian's chromium through playwright-core). Called by auth.sh:
//   node dashboard_token.js HTTPS_URL TOKEN
// Without a token the page says how to give one; opened as /#access_token=TOKEN it connects,
// lists the agents, and takes the token off the address bar.
const { chromium } = require('playwright-core');

const [url, token] = process.argv.slice(2);
const fail = (msg) => { throw new Error(msg); };

async function main() {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  // The test's CA is not the browser's: its certificate errors are what is ignored, not the token.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  try {
    const bare = await context.newPage();
    await bare.goto(url);
    await bare.waitForFunction(() => /needs a token/.test(document.querySelector('#conn').textContent), null,
      { timeout: 10000 });
    await bare.close();
    const page = await context.newPage();
    await page.goto(`${url}#access_token=${encodeURIComponent(token)}`);
    await page.waitForSelector('#conn.connected', { timeout: 10000 });
    await page.waitForSelector('#agents td', { timeout: 10000 });
    const agents = await page.textContent('#agents');
    if (!/alpha/.test(agents)) fail(`the agents panel shows ${agents}`);
    if (page.url().includes('access_token')) fail(`the token stayed in the address bar: ${page.url()}`);
    console.log('ok: the dashboard says a token is needed without one, and connects with #access_token');
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.log(`FAIL: ${e.message}`); process.exit(1); });
