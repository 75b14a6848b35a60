// End-to-end tests of the desktop example in a real WebKitGTK webview: tauri-driver (W3C WebDriver)
// in front of WebKitWebDriver drives the release build, which talks to a fake OpenAI-compatible
// provider and, for remote mode, to the project's fake Shannon cloud. Run by scripts/e2e.sh under
// Xvfb. Each step saves a screenshot under target/e2e-screenshots/.
//
// Environment: SHANNON_APP (the built binary), TAURI_DRIVER (the tauri-driver binary),
// SHANNON_E2E_HOME (a temporary XDG home: the app's data lands there), SCREENSHOTS, FAKE_CLOUD (the
// built examples/fake_cloud.rs).
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLOUD_ANSWER, CLOUD_KEY, startFakeCloud } from "./fake-cloud.mjs";
import { HOSTILE_ANSWER, HOSTILE_SOURCE, MODEL, startFakeProvider } from "./fake-provider.mjs";

const APP = process.env.SHANNON_APP;
const DRIVER = process.env.TAURI_DRIVER ?? "tauri-driver";
const SHOTS = process.env.SCREENSHOTS ?? "target/e2e-screenshots";
const HOME = process.env.SHANNON_E2E_HOME;
const PORT = Number(process.env.WEBDRIVER_PORT ?? 4444);
const WD = `http://127.0.0.1:${PORT}`;
const IDENTIFIER = "dev.shannon.example-app";
const API_KEY = "sk-e2e-0123456789abcdef0123";
// Secrets the run hands the app, none of which may reach its log file.
const secrets = { "the provider key": API_KEY, "the Shannon cloud key": CLOUD_KEY };
// The system browser, as the app's opener finds it on PATH (xdg-open): it records what it was asked
// to open, one line per call.
const OPENER_BIN = join(HOME, "bin");
const OPENED = join(HOME, "opened.txt");
const opened = () => (existsSync(OPENED) ? readFileSync(OPENED, "utf8").split("\n").filter(Boolean) : []);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

// ---- W3C WebDriver over fetch ----------------------------------------------------------------

let session = null;

async function wd(method, path, body) {
  const res = await fetch(`${WD}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok || json.value?.error) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json.value ?? json)}`);
  return json.value;
}
const s = (path) => `/session/${session}${path}`;
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf"; // the W3C web element identifier

async function find(css) {
  const v = await wd("POST", s("/element"), { using: "css selector", value: css });
  return v[ELEMENT];
}
/** Finds and clicks; a list re-rendered between the two (a stale element) is looked up again. */
async function click(css) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await wd("POST", s(`/element/${await find(css)}/click`), {});
    } catch (e) {
      if (attempt >= 5 || !String(e.message).includes("stale element")) throw e;
      await sleep(100);
    }
  }
}
const type = async (css, text) => {
  const id = await find(css);
  await wd("POST", s(`/element/${id}/clear`), {});
  await wd("POST", s(`/element/${id}/value`), { text });
};
const run = (script, ...args) => wd("POST", s("/execute/sync"), { script, args });
const text = (css) => run("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css);
const visible = (css) => run("const e = document.querySelector(arguments[0]); return !!e && e.offsetParent !== null;", css);
const select = (css, value) =>
  run(
    "const e = document.querySelector(arguments[0]); e.value = arguments[1]; e.dispatchEvent(new Event('change')); return e.value;",
    css,
    value,
  );

async function waitFor(what, fn, timeout = 20000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

let shot = 0;
async function screenshot(name) {
  // Let the webview paint the last DOM changes first (two animation frames and a little slack).
  await wd("POST", s("/execute/async"), {
    script: "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 250)));",
    args: [],
  });
  const png = await wd("GET", s("/screenshot"));
  const file = join(SHOTS, `${String(++shot).padStart(2, "0")}-${name}.png`);
  writeFileSync(file, Buffer.from(png, "base64"));
  console.log(`   screenshot ${file}`);
}

// ---- the app's parts -------------------------------------------------------------------------

const lastTurn = ".turn:last-of-type";
const answer = () => text(`${lastTurn} .a`);
const control = () => text("#control-state");
const eventTypes = () => run("return [...document.querySelectorAll('#events li')].map((li) => li.dataset.type);");
const ready = () => waitFor("the UI to start", () => run("return document.body.dataset.ready === 'true';"));

const turnCount = () => run("return document.querySelectorAll('.turn').length;");

/** Submits from the composer; with `expectTurn`, waits until the new task's turn is the one shown. */
async function submit(prompt, { provider, mode, expectTurn = true }) {
  const before = await turnCount();
  await select("#provider", provider);
  await select("#mode", mode);
  await type("#prompt", prompt);
  await click("#submit");
  if (!expectTurn) return;
  await waitFor("the new task's turn", async () => {
    const shown = await run(
      "const t = document.querySelector('.turn:last-of-type'); return t && t.dataset.taskId === document.getElementById('task-id').textContent && !document.getElementById('cancel').disabled;",
    );
    return shown && (await turnCount()) === before + 1;
  });
}

// ---- steps -----------------------------------------------------------------------------------

const fake = await startFakeProvider();
const cloud = await startFakeCloud(process.env.FAKE_CLOUD);
const steps = [];
const step = (name, fn) => steps.push({ name, fn });

step("the app starts on the chat page", async () => {
  await ready();
  const providers = await run("return [...document.querySelectorAll('#provider option')].map((o) => o.value);");
  assert(providers.includes("demo") && providers.includes("openai"), `providers listed: ${providers}`);
  // The data went to the temporary XDG home, not the user's own.
  const db = join(HOME, "data", IDENTIFIER, "shannon.sqlite3");
  await waitFor(`the database at ${db}`, () => existsSync(db), 10000);
  // Price the fake model through the real IPC, so the history shows a cost.
  await run(
    "return window.__TAURI_INTERNALS__.invoke('plugin:shannon|set_setting', { key: 'pricing', value: arguments[0] });",
    JSON.stringify({ [MODEL]: { input: 2.5, output: 10 } }),
  );
  await screenshot("start");
});

step("submitting without a key shows a notice and opens the keys page", async () => {
  await submit("Hello?", { provider: "openai", mode: "simple", expectTurn: false });
  await waitFor("the keys page", () => visible("#page-keys"));
  const n = await text("#notice");
  assert(/needs an API key/.test(n), `notice: ${n}`);
  assert((await run("return document.getElementById('key-provider').value;")) === "openai", "keys page opened on openai");
  assert(fake.requests.length === 0, "nothing was sent to the provider");
  await screenshot("needs-key");
});

step("add a key pointed at the fake provider", async () => {
  await type("#key-value", API_KEY);
  await type("#key-base-url", fake.url);
  await click("#key-save");
  await waitFor("openai ready", async () => (await text("tr[data-provider=openai] td:nth-child(2)")) === "ready");
  const row = await text("tr[data-provider=openai]");
  assert(row.includes(fake.url), `base URL shown: ${row}`);
  assert(/\*{2,}/.test(row), `masked key shown: ${row}`);
  const page = await run("return document.body.innerText;");
  assert(!page.includes(API_KEY), "the full key is never shown");
  await screenshot("key-added");
});

step("submit: tokens stream in, pause, resume, tools, completion", async () => {
  await click("#nav-chat");
  await submit("Please calculate 6 times 7 for me.", { provider: "openai", mode: "standard" });
  const first = await waitFor("the first tokens", async () => {
    const a = await answer();
    return a && a.length > 0 && a;
  });
  const later = await waitFor("more tokens", async () => {
    const a = await answer();
    return a.length > first.length && a;
  });
  assert(later.startsWith(first), `tokens append: ${first} | ${later}`);
  assert((await control()) === "running", "control state running");
  await screenshot("streaming");

  await click("#pause");
  await waitFor("paused", async () => (await control()) === "paused", 20000);
  assert((await eventTypes()).includes("WORKFLOW_PAUSED"), "WORKFLOW_PAUSED shown");
  const seen = fake.requests.length;
  await sleep(1500);
  assert(fake.requests.length === seen && seen === 1, `no model call while paused (${fake.requests.length})`);
  assert((await control()) === "paused", "still paused");
  assert(await run("return document.getElementById('pause').disabled && !document.getElementById('resume').disabled;"), "buttons follow the state");
  await screenshot("paused");

  await click("#resume");
  await waitFor("completed", async () => (await control()) === "completed", 30000);
  const a = await answer();
  assert(a.includes("42"), `answer has the tool's result: ${a}`);
  const types = await eventTypes();
  for (const t of ["WORKFLOW_RESUMED", "TOOL_INVOKED", "TOOL_OBSERVATION", "WORKFLOW_COMPLETED"]) assert(types.includes(t), `${t} shown: ${types}`);
  assert(fake.requests.every((r) => r.authorization === `Bearer ${API_KEY}`), "the stored key reached the provider");
  assert(fake.requests.length === 2, `two model calls (${fake.requests.length})`);
  const status = await waitFor("usage on the turn", async () => {
    const t = await text(`${lastTurn} .status`);
    return t.includes(MODEL) && t;
  });
  assert(/[1-9]\d* tokens/.test(status), `tokens on the turn: ${status}`);
  await screenshot("completed");
});

step("cancel another task mid-answer", async () => {
  await submit("Tell me something long.", { provider: "openai", mode: "simple" });
  await waitFor("tokens of the second task", async () => (await answer()).length > 30);
  await click("#cancel");
  await waitFor("cancelled", async () => (await control()) === "cancelled", 20000);
  const last = fake.requests.at(-1);
  await waitFor("the provider request aborted", () => last.aborted, 5000);
  assert((await eventTypes()).includes("WORKFLOW_CANCELLED"), "WORKFLOW_CANCELLED shown");
  await screenshot("cancelled");
});

step("a reload mid-answer resumes the stream", async () => {
  const before = fake.requests.length;
  await submit("One more long answer, please.", { provider: "openai", mode: "simple" });
  await waitFor("tokens of the third task", async () => (await answer()).length > 30);
  const taskId = await run("return document.querySelector('.turn:last-of-type').dataset.taskId;");
  await wd("POST", s("/refresh"), {});
  await ready();
  await waitFor("the resumed stream", async () => (await eventTypes()).includes("STREAM_RESUMED"));
  assert((await text("#task-id")) === taskId, "the running task is shown again");
  // Deltas are replayable: the reloaded page shows the answer from its first word, not mid-sentence.
  await waitFor("the replayed answer", async () => (await answer()).length > 30);
  assert((await answer()).startsWith("Streaming one token"), `the answer is replayed from its start: ${(await answer()).slice(0, 40)}`);
  await screenshot("reloaded-mid-answer");
  await waitFor("completed after the reload", async () => (await control()) === "completed", 30000);
  const a = await answer();
  assert(a.split("Streaming one token").length - 1 === 6, `the whole answer after the reload: ${a.length} chars`);
  assert(fake.requests.length === before + 1, "the reload did not restart the task");
  await screenshot("completed-after-reload");
});

step("a complex task shows its plan and its agents, then the combined answer", async () => {
  const before = fake.requests.length;
  await submit("Compare the two options for me.", { provider: "openai", mode: "complex" });
  await waitFor("the plan", async () => (await run("return document.querySelectorAll('.turn:last-of-type .team .step').length;")) === 2);
  await waitFor("completed", async () => (await control()) === "completed", 30000);
  const steps = await run("return [...document.querySelectorAll('.turn:last-of-type .team .step')].map((s) => s.dataset.status + ' ' + s.textContent);");
  assert(steps.every((s) => s.startsWith("done")), `every step done: ${steps}`);
  assert(steps[0].includes("reports on: Describe the first option"), `an agent's text under its step: ${steps[0]}`);
  assert((await answer()) === "Both options compared: the first is quick, the second is thorough.", `the answer: ${await answer()}`);
  assert(fake.requests.length === before + 4, `planner, two agents, synthesis (${fake.requests.length - before})`);
  assert(fake.requests[before].body.response_format?.type === "json_object", "the planner asked for JSON");
  await screenshot("complex-team");
});

step("a task that asks first shows its plan, waits for Approve, then runs", async () => {
  const before = fake.requests.length;
  await run("document.getElementById('ask-first').checked = true;");
  await submit("Compare them again, but ask me first.", { provider: "openai", mode: "complex" });
  await waitFor("the approval card", async () => visible(".turn:last-of-type .approval.pending .approve"));
  const steps = await run("return [...document.querySelectorAll('.turn:last-of-type .approval li')].map((li) => li.textContent);");
  assert(steps.length === 2 && steps[0] === "Describe the first option", `the plan to approve: ${steps}`);
  // The agents start only after the gate: by now only the planner has run.
  assert(fake.requests.length === before + 1, `only the planner ran before the decision (${fake.requests.length - before})`);
  assert((await control()) === "running", "the task waits");
  await screenshot("approval-pending");
  await click(".turn:last-of-type .approval .approve");
  await waitFor("approved", async () => visible(".turn:last-of-type .approval.approved"));
  await waitFor("completed", async () => (await control()) === "completed", 30000);
  assert((await answer()) === "Both options compared: the first is quick, the second is thorough.", `the answer: ${await answer()}`);
  assert((await eventTypes()).includes("APPROVAL_DECISION"), "APPROVAL_DECISION shown");
  await run("document.getElementById('ask-first').checked = false;");
  await screenshot("approval-approved");
});

step("research over a local SearXNG answers with numbered sources that link out", async () => {
  // A search API set up on the keys page: SearXNG is keyless, reached at its base URL.
  await click("#nav-keys");
  await select("#key-provider", "searxng");
  await type("#key-base-url", fake.origin);
  await click("#key-save");
  await waitFor("SearXNG ready", async () => (await text("tr[data-provider=searxng] td:nth-child(2)")) === "ready");
  const chatProviders = await run("return [...document.querySelectorAll('#provider option')].map((o) => o.value);");
  assert(!chatProviders.includes("searxng"), `a search API is not offered as a model: ${chatProviders}`);
  await click("#nav-chat");
  await submit("Where did tidal power begin, and which plant is the largest?", { provider: "openai", mode: "research" });
  await waitFor("completed", async () => (await control()) === "completed", 60000);
  const cites = await waitFor("the citation links", async () => {
    const c = await run("return [...document.querySelectorAll('.turn:last-of-type .a a.cite')].map((a) => [a.textContent, a.href]);");
    return c.length > 0 && c;
  });
  const sources = await run("return [...document.querySelectorAll('.turn:last-of-type .a ol.sources li a')].map((a) => [a.textContent, a.href]);");
  assert(JSON.stringify(cites.map((c) => c[0])) === JSON.stringify(["[1]", "[2]"]), `numbered markers: ${JSON.stringify(cites)}`);
  assert(sources.length === 2, `two sources listed: ${JSON.stringify(sources)}`);
  for (const [i, [, href]] of cites.entries()) assert(href === sources[i][1], `marker ${i + 1} links to source ${i + 1}: ${href} vs ${sources[i][1]}`);
  assert(sources.every(([, href]) => href.startsWith("https://en.wikipedia.org/wiki/")), `the search's URLs: ${JSON.stringify(sources)}`);
  assert(sources.some(([title]) => title === "Rance Tidal Power Station"), `titles shown: ${JSON.stringify(sources)}`);
  assert(fake.searches.length === 2 && fake.searches.every((q) => q.format === "json"), `two searches at SearXNG: ${JSON.stringify(fake.searches)}`);
  const links = await run("return [...document.querySelectorAll('.turn:last-of-type .a a')].every((a) => a.target === '_blank' && a.rel.includes('noopener'));");
  assert(links, "sources open outside the app's window");
  await screenshot("research-sources");
});

step("a file an agent writes (after approval) shows in the files panel", async () => {
  await submit("Please save my notes on tidal power.", { provider: "openai", mode: "standard" });
  await waitFor("the tool's approval card", async () => visible(".turn:last-of-type .approval.pending .approve"));
  const asked = await text(".turn:last-of-type .approval-tool");
  assert(asked.startsWith("file_write") && asked.includes("notes/tidal.md"), `the call to approve: ${asked}`);
  await click(".turn:last-of-type .approval .approve");
  await waitFor("completed", async () => (await control()) === "completed", 30000);
  await waitFor("the notes folder in the panel", async () => visible("#files li[data-path='notes']"));
  await click("#files li[data-path='notes']");
  await waitFor("the file in the folder", async () => visible("#files li[data-path='notes/tidal.md']"));
  await click("#files li[data-path='notes/tidal.md']");
  const preview = await waitFor("the preview", async () => (await visible("#file-preview")) && (await text("#file-preview")));
  assert(preview.startsWith("# Tidal power") && preview.includes("Sihwa Lake"), `the file's content: ${preview}`);
  await screenshot("session-files");
});

step("the HTTP listener switch shows its URL and token", async () => {
  await click("#nav-listener");
  await click("label.switch");
  const url = await waitFor("the listener URL", async () => {
    const u = await text("#listener-url");
    return u && u.startsWith("http://127.0.0.1:") && u;
  });
  const token = await text("#listener-token");
  assert(token.length >= 32, "token shown");
  secrets["the listener token"] = token;
  const res = await fetch(`${url}/api/v1/tasks`, { headers: { authorization: `Bearer ${token}` } });
  assert(res.status === 200, `listener answers with the token: ${res.status}`);
  const body = await res.json();
  assert(body.tasks.length === 7, `the listener sees the app's tasks: ${body.tasks.length}`);
  const denied = await fetch(`${url}/api/v1/tasks`);
  assert(denied.status === 401, `and refuses without it: ${denied.status}`);
  // From the webview itself (its real Origin header): the listener's CORS allowlist and desktop mode's
  // token init script both rely on the webview's origin being one the plugin knows.
  const fromWebview = await wd("POST", s("/execute/async"), {
    script:
      "const [u, t, done] = arguments; fetch(u + '/api/v1/tasks', { headers: { authorization: 'Bearer ' + t } })" +
      ".then((r) => done({ status: r.status, origin: window.location.origin }))" +
      ".catch((e) => done({ error: String(e), origin: window.location.origin }));",
    args: [url, token],
  });
  const knownOrigins = ["tauri://localhost", "http://tauri.localhost", "https://tauri.localhost"];
  assert(knownOrigins.includes(fromWebview.origin), `the webview's origin is a known one: ${fromWebview.origin}`);
  assert(fromWebview.status === 200, `the webview reaches the listener: ${JSON.stringify(fromWebview)}`);
  const check = await waitFor("the page's own check", async () => {
    const t = await text("#listener-check");
    return t && t !== "checking…" && t;
  });
  assert(check === "answers as embedded_user", `the listener page reaches it from the webview: ${check}`);
  await screenshot("listener-on");
  await click("label.switch");
  await waitFor("the listener off", async () => (await text("#listener-label")) === "Off");
});

step("after a reload, the history lists every task with status, model, tokens and cost", async () => {
  await wd("POST", s("/refresh"), {});
  await ready();
  const turns = await run("return document.querySelectorAll('.turn').length;");
  assert(turns === 7, `the session's turns are back: ${turns}`);
  // A stored research answer keeps its links.
  const cited = await run("return document.querySelectorAll('.turn a.cite').length;");
  assert(cited === 2, `the research turn's citation links after the reload: ${cited}`);
  await click("#nav-history");
  const rows = await waitFor("seven history rows", async () => {
    const r = await run(
      "return [...document.querySelectorAll('#history-table tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent));",
    );
    return r.length === 7 && r;
  });
  const statuses = rows.map((r) => r[2]).sort();
  assert(JSON.stringify(statuses) === JSON.stringify(["CANCELLED", "COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED"]), `statuses: ${statuses}`);
  for (const r of rows.filter((r) => r[2] === "COMPLETED")) {
    assert(r[3] === MODEL, `model: ${r}`);
    assert(Number(r[4]) > 0, `tokens: ${r}`);
    assert(/^\$0\.\d+$/.test(r[5]) && r[5] !== "$0.00000", `cost: ${r}`);
  }
  await screenshot("history");
});

step("the history exports to a folder with a progress bar, and a used folder is refused", async () => {
  const dir = join(tmpdir(), `shannon-e2e-export-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  await type("#export-dir", dir);
  await click("#export-start");
  const said = await waitFor("the export's report", async () => {
    const t = await run("return document.getElementById('export-result').textContent;");
    return t.startsWith("Exported") && t;
  });
  assert(/Exported \d+ conversations, 7 tasks and \d+ events/.test(said), `report: ${said}`);
  const bar = await run("const b = document.getElementById('export-progress'); return [b.hidden, b.value, b.max];");
  assert(!bar[0] && bar[1] === bar[2] && bar[1] === 7, `progress bar full: ${bar}`);
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  assert(manifest.format === "shannon-history" && manifest.counts.tasks === 7, `manifest: ${JSON.stringify(manifest.counts)}`);
  await screenshot("history-exported");
  await click("#export-start");
  await waitFor("a refusal for the used folder", async () =>
    (await run("return document.body.textContent;")).includes("is not empty"),
  );
  rmSync(dir, { recursive: true, force: true });
});

step("a hostile answer shows as text: its HTML, script and javascript: link run nothing", async () => {
  await click("#nav-chat");
  const appUrl = await run("return window.location.href;");
  await submit("Show me some markup, please.", { provider: "openai", mode: "simple" });
  await waitFor("completed", async () => (await control()) === "completed", 30000);
  // The finished answer (rendered from the stored result, with its sources section as links).
  await waitFor("the answer's source link", async () => (await run("return document.querySelectorAll('.turn:last-of-type .a ol.sources a').length;")) === 1);
  const shown = await answer();
  const body = HOSTILE_ANSWER.slice(0, HOSTILE_ANSWER.indexOf("\n\n## Sources"));
  for (const literal of ['<img src=x onerror="window.__pwned=1">', "<script>window.__pwned=2</script>", "[click](javascript:window.__pwned=3)"]) {
    assert(shown.includes(literal), `shown literally: ${literal} in ${shown}`);
  }
  assert(shown.startsWith(body), `the whole text, as text: ${shown}`);
  const made = await run(
    "const a = document.querySelector('.turn:last-of-type .a'); return { img: a.querySelectorAll('img').length, script: a.querySelectorAll('script').length, all: document.querySelectorAll('#transcript img, #transcript script, #events img, #events script').length, links: [...a.querySelectorAll('a')].map((l) => l.href) };",
  );
  assert(made.img === 0 && made.script === 0 && made.all === 0, `no element from the answer's markup: ${JSON.stringify(made)}`);
  // Only the https source became a link (as the [1] marker and in the list); javascript: and file: did not.
  assert(JSON.stringify(made.links) === JSON.stringify([HOSTILE_SOURCE, HOSTILE_SOURCE]), `links: ${JSON.stringify(made.links)}`);
  await sleep(500);
  assert((await run("return typeof window.__pwned;")) === "undefined", "no script of the answer ran");
  assert((await run("return window.location.href;")) === appUrl, "the window stayed on the app");
  await screenshot("hostile-answer-as-text");
});

step("links open outside the window, http(s) only; other schemes open and navigate nothing", async () => {
  const appUrl = await run("return window.location.href;");
  // Records whether the app took each click from the window (its capture listener runs first).
  await run("window.__clicks = []; document.addEventListener('click', (e) => { if (e.target.closest('a')) window.__clicks.push(e.defaultPrevented); });");
  // The https source, as the [1] marker and in the list: to the system browser, not into the window.
  await click(".turn:last-of-type .a a.cite");
  await click(".turn:last-of-type .a ol.sources a");
  await waitFor("the system browser asked twice", () => opened().length === 2, 10000);
  assert(opened().every((u) => u === HOSTILE_SOURCE), `opened: ${opened()}`);
  // Links the UI never makes, as if one slipped through: each is clicked and must do nothing.
  const bad = ["javascript:window.__pwned=3", "file:///etc/passwd", "data:text/html,<script>window.__pwned=4</script>", "tauri://localhost/index.html"];
  await run(
    "const a = document.querySelector('.turn:last-of-type .a'); for (const [i, href] of arguments[0].entries()) for (const target of ['_blank', '']) { const l = document.createElement('a'); l.href = href; l.target = target; l.className = 'e2e-bad'; l.dataset.n = a.querySelectorAll('a.e2e-bad').length; l.textContent = ` bad link ${i}${target} `; a.append(l); }",
    bad,
  );
  const count = await run("return document.querySelectorAll('a.e2e-bad').length;");
  for (let n = 0; n < count; n++) await click(`a.e2e-bad[data-n="${n}"]`);
  await sleep(1000);
  const clicks = await run("return window.__clicks;");
  assert(clicks.length === 2 + count && clicks.every(Boolean), `every link click was taken from the window: ${JSON.stringify(clicks)}`);
  assert((await run("return typeof window.__pwned;")) === "undefined", "no link ran script");
  assert((await run("return window.location.href;")) === appUrl, "the window stayed on the app");
  assert(opened().length === 2, `nothing else reached the system browser: ${opened()}`);
  // The capability's scope: even called directly, the opener refuses anything but http(s).
  for (const url of ["file:///etc/passwd", "javascript:alert(1)"]) {
    const refused = await wd("POST", s("/execute/async"), {
      script: "const [url, done] = arguments; window.__TAURI_INTERNALS__.invoke('plugin:opener|open_url', { url }).then(() => done('opened'), (e) => done(String(e)));",
      args: [url],
    });
    assert(refused !== "opened", `the opener refuses ${url}: ${refused}`);
  }
  assert(opened().length === 2, `the refused URLs were not opened: ${opened()}`);
  // A script sending the window elsewhere is refused by the app's navigation guard.
  await run("window.location.href = arguments[0];", HOSTILE_SOURCE);
  await sleep(1000);
  assert((await run("return window.location.href;")) === appUrl, "a navigation away from the app was refused");
  assert((await run("return document.body.dataset.ready;")) === "true", "the page is still the app's");
  await screenshot("links-outside");
  await run("document.querySelectorAll('a.e2e-bad').forEach((l) => l.remove());");
});

step("delete the key", async () => {
  await click("#nav-keys");
  await click("[data-testid=delete-openai]");
  await waitFor("openai not ready", async () => (await text("tr[data-provider=openai] td:nth-child(2)")) !== "ready");
  await click("#nav-chat");
  await submit("Hello again?", { provider: "openai", mode: "simple", expectTurn: false });
  await waitFor("the keys page", () => visible("#page-keys"));
  await screenshot("key-deleted");
});

step("Shannon cloud: a verified profile answers a new conversation, through an outage", async () => {
  await click("#nav-cloud");
  await type("#profile-name", "Fake cloud");
  await type("#profile-url", cloud.url);
  await type("#profile-key", CLOUD_KEY);
  await click("#profile-save");
  await waitFor("the profile's row", async () => (await text("tr[data-profile=fake-cloud] td:nth-child(3)")) === "stored");
  assert(!(await run("return document.body.innerText;")).includes(CLOUD_KEY), "the cloud key is never shown");
  await click("[data-testid=verify-fake-cloud]");
  const report = await waitFor("the verify report", async () => {
    const r = await run("return Object.fromEntries([...document.querySelectorAll('#verify-fields dd')].map((d) => [d.dataset.field, d.textContent]));");
    return r.reachable && r;
  });
  assert(report.reachable.startsWith("yes"), `reachable: ${JSON.stringify(report)}`);
  assert(report.auth === "ok", `auth ok: ${JSON.stringify(report)}`);
  assert(report.user !== "—" && /^\d+ ms$/.test(report.latency) && !report.problem, `user and latency, no problem: ${JSON.stringify(report)}`);
  await waitFor("the profile online", async () => (await text("tr[data-profile=fake-cloud] td:nth-child(4)")) === "online");
  await screenshot("cloud-verified");

  // A new conversation on the cloud: the composer says it never asks before a tool runs.
  await click("#nav-chat");
  await click("#new-session");
  await select("#target", "fake-cloud");
  await select("#mode", "simple");
  assert(/no per-tool-call approval/.test(await text("#remote-note")) && (await visible("#remote-note")), `the note: ${await text("#remote-note")}`);
  assert(await run("return document.getElementById('provider').disabled;"), "the local provider choice is off for the cloud");
  await type("#prompt", "What does the cloud say?");
  await click("#submit");
  await waitFor("the remote task's turn", () =>
    run("const t = document.querySelector('.turn:last-of-type'); return !!t && t.dataset.taskId === document.getElementById('task-id').textContent && t.dataset.executor === 'remote:fake-cloud';"),
  );
  const first = await waitFor("the cloud's first tokens", async () => {
    const a = await answer();
    return a && a.length > 0 && a;
  });
  assert(CLOUD_ANSWER.startsWith(first), `the cloud's answer streams: ${first}`);
  assert(/☁ Fake cloud/.test(await text("#sessions li.active .badge.remote")), "the session is badged as remote");
  assert(await run("return document.getElementById('target').disabled && document.getElementById('target').value === 'fake-cloud';"), "the started conversation keeps its cloud");
  await screenshot("cloud-streaming");

  // The cloud goes away for 5 s mid-answer; its task keeps running there.
  await cloud.goAway(5000);
  const gone = Date.now();
  await waitFor("the offline notice", () => visible("#remote-offline"), 4000);
  assert(/offline/.test(await text("#remote-offline")), `the notice: ${await text("#remote-offline")}`);
  const during = await answer();
  await waitFor("the WARNING in the event log", async () => (await eventTypes()).includes("WARNING"), 4000);
  console.log(`   offline notice ${Date.now() - gone} ms after the cloud went away`);
  await screenshot("cloud-offline");

  await waitFor("the notice cleared when the cloud is back", async () => !(await visible("#remote-offline")), 30000);
  await waitFor("completed", async () => (await control()) === "completed", 30000);
  await waitFor("the whole answer", async () => (await answer()) === CLOUD_ANSWER, 5000);
  assert(CLOUD_ANSWER.startsWith(during), `nothing lost or doubled around the outage: ${during}`);
  await screenshot("cloud-completed");

  await click("#nav-history");
  const taskId = await run("return document.querySelector('.turn:last-of-type').dataset.taskId;");
  const badge = await waitFor("the badged history row", () => text(`#history-table tr[data-task-id="${taskId}"] .badge.remote`));
  assert(/Fake cloud/.test(badge), `history badge: ${badge}`);
  await screenshot("cloud-history");
  await click("#nav-chat");
});

// ---- desktop mode, in a second launch of the same app -----------------------------------------

// The Shannon desktop frontend's range is 1906-1915; a high range keeps the test off real ports.
const DESKTOP_FIRST = 41906;
const DESKTOP_LAST = 41915;
const desktopSteps = [];

desktopSteps.push({
  name: "desktop mode: the webview gets the launch token and finds the server like the desktop frontend",
  fn: async () => {
    await waitFor("the UI to start", () => run("return document.body.dataset.ready === 'true';"));
    const tokenFile = join(HOME, "data", IDENTIFIER, "listener.token");
    const token = await waitFor("the listener token file", () => existsSync(tokenFile) && readFileSync(tokenFile, "utf8"));
    // The init script handed the token to the app's own page.
    const stored = await run("return window.localStorage.getItem('shannon_api_key');");
    secrets["the desktop launch token"] = token;
    assert(stored === token, "localStorage.shannon_api_key is the launch token");
    // Discovery as the frontend does it: GET /ready on each port, 1 s each; the first port is taken.
    const found = await wd("POST", s("/execute/async"), {
      script: `const [first, last, done] = arguments;
        (async () => {
          for (let port = first; port <= last; port++) {
            try {
              const r = await fetch('http://127.0.0.1:' + port + '/ready', { signal: AbortSignal.timeout(1000) });
              const body = await r.json();
              if (r.ok && (body.status === 'ready' || body.status === 'ok')) return port;
            } catch (e) {}
          }
          return null;
        })().then(done);`,
      args: [DESKTOP_FIRST, DESKTOP_LAST],
    });
    assert(found === DESKTOP_FIRST + 1, `the server answers /ready on the first free port: ${found}`);
    // The frontend's own request: X-API-Key from localStorage, from the webview's origin.
    const tasks = await wd("POST", s("/execute/async"), {
      script: `const [port, done] = arguments;
        fetch('http://127.0.0.1:' + port + '/api/v1/tasks?limit=10&offset=0',
              { headers: { 'X-API-Key': window.localStorage.getItem('shannon_api_key') } })
          .then(async (r) => done({ status: r.status, body: await r.json() }))
          .catch((e) => done({ error: String(e) }));`,
      args: [found],
    });
    assert(tasks.status === 200, `the frontend's request is accepted: ${JSON.stringify(tasks)}`);
    assert(tasks.body.total_count === 9, `it sees the app's tasks, the cloud's mirrored one too: ${tasks.body.total_count}`);
    // Another local client without the token is refused.
    const other = await fetch(`http://127.0.0.1:${found}/api/v1/tasks`);
    assert(other.status === 401, `a client without credentials is refused: ${other.status}`);
    await screenshot("desktop-mode");
  },
});

desktopSteps.push({
  name: "the app's log file has the Shannon plugin's lines and no secret",
  fn: async () => {
    // tauri-plugin-log's LogDir on Linux: $XDG_DATA_HOME/<identifier>/logs, one file per app name.
    const dir = join(HOME, "data", IDENTIFIER, "logs");
    const log = readdirSync(dir)
      .filter((f) => f.endsWith(".log"))
      .map((f) => readFileSync(join(dir, f), "utf8"))
      .join("\n");
    assert(existsSync(join(dir, "Shannon.log")), `Shannon.log in ${dir}: ${readdirSync(dir)}`);
    writeFileSync(join(SHOTS, "app.log"), log); // kept beside the screenshots
    // The plugin logs through tracing; its events reach the app's logger as log records.
    assert(/\[tauri_plugin_shannon[\w:]*\]\[INFO\] stored a provider API key/.test(log), `the plugin's line in the log:\n${log.slice(0, 2000)}`);
    assert(/\[shannon_app\]\[WARN\] refused a navigation of the window to a https: URL/.test(log), "the app's navigation guard logged its refusal");
    for (const [what, secret] of Object.entries(secrets)) assert(!log.includes(secret), `${what} is not in the log`);
    assert(/lost the Shannon cloud stream/.test(log), "the plugin logged the cloud's outage");
    assert(Object.keys(secrets).length === 4, `every secret was checked: ${Object.keys(secrets)}`);
    console.log(`   ${log.split("\n").length} log lines, ${Object.keys(secrets).length} secrets absent`);
  },
});

// ---- run -------------------------------------------------------------------------------------

/** Starts tauri-driver (with `env` added to this process's), opens the app, runs `steps`, closes. */
async function launch(env, list) {
  const driver = spawn(DRIVER, ["--port", String(PORT), "--native-port", String(PORT + 1)], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, ...env },
  });
  const exited = new Promise((r) => driver.once("exit", r));
  try {
    await waitFor("tauri-driver", async () => (await fetch(`${WD}/status`)).ok, 15000);
    const created = await wd("POST", "/session", { capabilities: { alwaysMatch: { "tauri:options": { application: APP } } } });
    session = created.sessionId;
    for (const { name, fn } of list) {
      const t0 = Date.now();
      try {
        await fn();
        console.log(`ok   ${name} (${Date.now() - t0} ms)`);
      } catch (e) {
        console.log(`FAIL ${name}: ${e.message}`);
        await screenshot(`FAILED-${name.replace(/\W+/g, "-")}`).catch(() => {});
        console.log(await run("return document.body.innerText;").catch(() => "(no page text)"));
        return false;
      }
    }
    return true;
  } finally {
    if (session) await wd("DELETE", s("")).catch(() => {});
    session = null;
    driver.kill();
    await exited;
  }
}

rmSync(SHOTS, { recursive: true, force: true });
mkdirSync(SHOTS, { recursive: true });
mkdirSync(OPENER_BIN, { recursive: true });
writeFileSync(join(OPENER_BIN, "xdg-open"), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${OPENED}'\n`);
chmodSync(join(OPENER_BIN, "xdg-open"), 0o755);
const PATH = `${OPENER_BIN}:${process.env.PATH}`;
// Another program holds the first port of the desktop range.
const squatter = createServer().listen(DESKTOP_FIRST, "127.0.0.1");
let failed = false;
try {
  failed = !(await launch({ PATH }, steps));
  if (!failed) {
    const desktopEnv = { PATH, SHANNON_DESKTOP_MODE: "1", SHANNON_DESKTOP_PORTS: `${DESKTOP_FIRST}-${DESKTOP_LAST}` };
    failed = !(await launch(desktopEnv, desktopSteps));
  }
} finally {
  squatter.close();
  fake.close();
  cloud.close();
}
console.log(`${readdirSync(SHOTS).length} screenshots in ${SHOTS}`);
process.exit(failed ? 1 : 0);
