// A fake OpenAI-compatible provider for the end-to-end tests: `POST /v1/chat/completions` streams
// chat.completion.chunk SSE frames slowly enough to pause or cancel mid-answer, with usage at the end.
//
// - A request that offers tools and has no tool result yet streams a short text, then a calculator
//   call; the one after the tool result answers with that result.
// - A query containing "long" streams a long answer (for cancel and reload tests).
// - A complex task's planner (JSON mode) gets a two-step plan; its agents and its synthesis answer.
// - A research task: the refiner, the research planner, agents that search once then report the
//   first URL they found, a coverage judge that is satisfied, a synthesis citing [1] and [2], the
//   answer's check. `GET /search?format=json` answers as a SearXNG instance (recorded in `searches`).
// - A request that offers file_write and asks to save notes writes one file, then says so.
// - A query asking for markup gets a hostile answer (HOSTILE_ANSWER: HTML, a script, javascript: and
//   file: links, an https source) that the window must show as text and run nothing of.
// Every request is recorded: its Authorization header, model, messages, and whether the client hung
// up before the end (cancellation aborts the request in flight).
import http from "node:http";

export const MODEL = "fake-e2e-model";
const DELAY_MS = Number(process.env.FAKE_DELAY_MS ?? 120);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** What a hostile page or prompt injection could make a model write. */
export const HOSTILE_SOURCE = "https://example.com/shannon-e2e";
export const HOSTILE_ANSWER = [
  'Here is the markup: <img src=x onerror="window.__pwned=1"> then <script>window.__pwned=2</script>',
  "and a link [click](javascript:window.__pwned=3) as the model wrote it [1].",
  "",
  "## Sources",
  `[1] [A real source](${HOSTILE_SOURCE})`,
  "[2] [A local file](file:///etc/passwd)",
].join("\n");

function words(text) {
  return text.match(/\S+\s*/g) ?? [];
}

function plan(body) {
  const messages = body.messages ?? [];
  const user = [...messages].reverse().find((m) => m.role === "user")?.content ?? "";
  const system = messages.find((m) => m.role === "system")?.content ?? "";
  const toolResult = [...messages].reverse().find((m) => m.role === "tool");
  const hasTools = Array.isArray(body.tools) && body.tools.length > 0;
  const json = (v) => ({ text: [JSON.stringify(v)] });
  // Research: each of its agents by the system prompt the engine gives it.
  if (system.startsWith("You refine research questions")) {
    return json({ refined_query: user.replace(/^Question: /, ""), research_areas: ["origins", "the largest plants"], rationale: "two parts" });
  }
  if (system.startsWith("You are a research supervisor")) {
    return json({
      complexity_score: 0.6,
      subtasks: [
        { id: "task-1", description: "Find where tidal power began", suggested_tools: ["web_search"] },
        { id: "task-2", description: "Find the largest tidal plant today", suggested_tools: ["web_search"] },
      ],
    });
  }
  if (system.startsWith("You judge whether research findings")) return json({ coverage_score: 0.9, should_continue: false, gaps: [] });
  if (system.startsWith("You check a research answer")) return json({ verified: true, confidence: 0.9, unsupported_claims: [] });
  if (system.startsWith("You write the answer to a research question")) {
    return { text: words("Tidal power began at the Rance estuary in 1966 [1]. The largest plant today is Sihwa Lake, at 254 MW [2].") };
  }
  if (system.includes("Research your subtask on the web")) {
    if (!toolResult && hasTools) {
      return { text: words("Searching."), tool: { id: `call_search_${messages.length}`, name: "web_search", pieces: [JSON.stringify({ query: user })] } };
    }
    const url = toolResult?.content.match(/https?:\/\/[^"\s]+/)?.[0] ?? "nothing";
    return { text: words(`Found it at ${url}.`) };
  }
  // A complex task: the planner asks for JSON, then each agent, then the synthesis.
  if (body.response_format?.type === "json_object") {
    const subtasks = [
      { id: "task-1", description: "Describe the first option" },
      { id: "task-2", description: "Describe the second option" },
    ];
    return { text: [JSON.stringify({ complexity_score: 0.6, execution_strategy: "parallel", subtasks })] };
  }
  if (system.startsWith("You combine the results")) {
    return { text: words("Both options compared: the first is quick, the second is thorough.") };
  }
  const agent = system.match(/^You are (\S+), one agent of a team/);
  if (agent) return { text: words(`${agent[1]} reports on: ${user}.`) };
  const offers = (name) => hasTools && body.tools.some((t) => t.function?.name === name);
  if (/save (my )?notes/i.test(user) && offers("file_write")) {
    if (toolResult) return { text: words(`Saved your notes to notes/tidal.md (${toolResult.content}).`) };
    const args = JSON.stringify({ path: "notes/tidal.md", content: "# Tidal power\n\n- The Rance opened in 1966.\n- Sihwa Lake is the largest.\n" });
    return { text: words("I will save them."), tool: { id: "call_write_1", name: "file_write", pieces: [args] } };
  }
  if (toolResult) {
    return { text: words(`The calculator says ${toolResult.content}, so 6 × 7 = ${toolResult.content}. Done.`) };
  }
  if (hasTools && /calculat/i.test(user)) {
    return {
      text: words("Let me work that out with the calculator tool before answering you."),
      tool: { id: "call_e2e_1", name: "calculator", pieces: ['{"expression"', ': "6 * 7"}'] },
    };
  }
  if (/markup/i.test(user)) return { text: words(HOSTILE_ANSWER) };
  if (/long/i.test(user)) {
    const sentence = "Streaming one token at a time keeps the window responsive while the model thinks. ";
    return { text: words(sentence.repeat(6)) };
  }
  return { text: words(`You asked: ${user}. This answer comes from the fake provider, token by token.`) };
}

export function startFakeProvider() {
  const requests = [];
  const searches = [];
  const server = http.createServer(async (req, res) => {
    if (req.method === "GET" && req.url.startsWith("/search?")) {
      const q = new URL(req.url, "http://fake").searchParams;
      searches.push({ q: q.get("q"), format: q.get("format") });
      const hit = /began/i.test(q.get("q"))
        ? { title: "Rance Tidal Power Station", url: "https://en.wikipedia.org/wiki/Rance_Tidal_Power_Station", content: "Opened in 1966 on the Rance estuary." }
        : { title: "Sihwa Lake Tidal Power Station", url: "https://en.wikipedia.org/wiki/Sihwa_Lake_Tidal_Power_Station", content: "254 MW, the largest." };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ query: q.get("q"), results: [{ ...hit, engine: "fake" }] }));
      return;
    }
    if (req.method !== "POST" || !req.url.endsWith("/chat/completions")) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
      return;
    }
    let raw = "";
    for await (const chunk of req) raw += chunk;
    const body = JSON.parse(raw);
    const record = { authorization: req.headers.authorization, body, finished: false, aborted: false };
    requests.push(record);
    res.on("close", () => {
      if (!record.finished) record.aborted = true;
    });
    const p = plan(body);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const send = (delta, finish = null) =>
      res.write(
        `data: ${JSON.stringify({ id: "chatcmpl-e2e", object: "chat.completion.chunk", created: 0, model: MODEL, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`,
      );
    send({ role: "assistant", content: "" });
    for (const w of p.text) {
      await sleep(DELAY_MS);
      if (record.aborted) return;
      send({ content: w });
    }
    if (p.tool) {
      await sleep(DELAY_MS);
      send({ tool_calls: [{ index: 0, id: p.tool.id, type: "function", function: { name: p.tool.name, arguments: "" } }] });
      for (const piece of p.tool.pieces) send({ tool_calls: [{ index: 0, function: { arguments: piece } }] });
    }
    send({}, p.tool ? "tool_calls" : "stop");
    const prompt = JSON.stringify(body.messages).length >> 2;
    const completion = p.text.length + (p.tool ? 12 : 0);
    res.write(
      `data: ${JSON.stringify({ id: "chatcmpl-e2e", object: "chat.completion.chunk", created: 0, model: MODEL, choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } })}\n\n`,
    );
    res.write("data: [DONE]\n\n");
    record.finished = true;
    res.end();
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}/v1`, origin: `http://127.0.0.1:${port}`, requests, searches, close: () => server.close() });
    }),
  );
}
