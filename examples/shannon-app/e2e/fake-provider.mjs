// A fake OpenAI-compatible provider for the end-to-end tests: `POST /v1/chat/completions` streams
// chat.completion.chunk SSE frames slowly enough to pause or cancel mid-answer, with usage at the end.
//
// - A request that offers tools and has no tool result yet streams a short text, then a calculator
//   call; the one after the tool result answers with that result.
// - A query containing "long" streams a long answer (for cancel and reload tests).
// - A complex task's planner (JSON mode) gets a two-step plan; its agents and its synthesis answer.
// Every request is recorded: its Authorization header, model, messages, and whether the client hung
// up before the end (cancellation aborts the request in flight).
import http from "node:http";

export const MODEL = "fake-e2e-model";
const DELAY_MS = Number(process.env.FAKE_DELAY_MS ?? 120);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function words(text) {
  return text.match(/\S+\s*/g) ?? [];
}

function plan(body) {
  const messages = body.messages ?? [];
  const user = [...messages].reverse().find((m) => m.role === "user")?.content ?? "";
  const system = messages.find((m) => m.role === "system")?.content ?? "";
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
  const toolResult = [...messages].reverse().find((m) => m.role === "tool");
  const hasTools = Array.isArray(body.tools) && body.tools.length > 0;
  if (toolResult) {
    return { text: words(`The calculator says ${toolResult.content}, so 6 × 7 = ${toolResult.content}. Done.`) };
  }
  if (hasTools && /calculat/i.test(user)) {
    return {
      text: words("Let me work that out with the calculator tool before answering you."),
      tool: { id: "call_e2e_1", name: "calculator", pieces: ['{"expression"', ': "6 * 7"}'] },
    };
  }
  if (/long/i.test(user)) {
    const sentence = "Streaming one token at a time keeps the window responsive while the model thinks. ";
    return { text: words(sentence.repeat(6)) };
  }
  return { text: words(`You asked: ${user}. This answer comes from the fake provider, token by token.`) };
}

export function startFakeProvider() {
  const requests = [];
  const server = http.createServer(async (req, res) => {
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
      resolve({ url: `http://127.0.0.1:${port}/v1`, requests, close: () => server.close() });
    }),
  );
}
