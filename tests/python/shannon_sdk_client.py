"""Drives the embedded listener with the official `shannon-sdk` Python package (0.7.0): skills,
agents (run to their answer), tools, a task's timeline, models and text completions, plain and
streamed chat, an approval answered from the stream as the SDK's example does, and a research plan
review whose revised plan the SDK reads from the feedback response, and a Shannon API key (`sk_…`)
that reads until it is revoked. Every call must return the SDK's own model objects without error.
Usage: shannon_sdk_client.py BASE_URL TOKEN"""

import json
import re
import sys
import time
import urllib.request

from shannon import (
    AgentExecution,
    AgentInfo,
    EventType,
    OpenAIChatCompletion,
    OpenAIChatCompletionChunk,
    OpenAIModel,
    ReviewState,
    ShannonClient,
    Skill,
    SkillDetail,
    SkillVersion,
    ToolDetail,
    ToolExecutionResult,
    ToolSchema,
)
from shannon.errors import AuthenticationError


def main() -> int:
    base, token = sys.argv[1], sys.argv[2]
    # The SDK takes the root URL; an API key travels as X-API-Key.
    client = ShannonClient(base_url=base, api_key=token)
    checks = 0
    try:
        skills = client.list_skills()
        assert skills and all(isinstance(s, Skill) for s in skills), skills
        names = [s.name for s in skills]
        assert "code-review" in names, names
        dev = client.list_skills(category="development")
        assert dev and all(s.category == "development" for s in dev), dev
        assert client.list_skills(category="no-such-category") == []
        detail = client.get_skill("code-review")
        assert isinstance(detail, SkillDetail) and detail.content and detail.requires_role == "critic", detail
        versions = client.get_skill_versions("code-review")
        assert versions and all(isinstance(v, SkillVersion) for v in versions), versions
        checks += 1

        agents = client.list_agents()
        assert agents and all(isinstance(a, AgentInfo) for a in agents), agents
        calculator = client.get_agent("calculator")
        assert isinstance(calculator, AgentInfo) and calculator.tool == "calculator", calculator
        run = client.execute_agent("calculator", {"expression": "6 * 7"}, session_id="sdk-session-1")
        assert isinstance(run, AgentExecution) and run.task_id and run.workflow_id, run
        assert run.session_id == "sdk-session-1" and run.created_at is not None, run
        status = client.wait(run.task_id, timeout=60, poll_interval=0.2)
        assert status.result == "42", status
        checks += 1

        timeline = client.get_task_timeline(run.task_id)
        kinds = [e["type"] for e in timeline["events"]]
        assert kinds[0] == "WF_STARTED" and kinds[-1] == "WF_COMPLETED", kinds
        checks += 1

        tools = client.list_tools()
        assert tools and all(isinstance(t, ToolSchema) for t in tools), tools
        tool = client.get_tool("calculator")
        assert isinstance(tool, ToolDetail) and tool.category == "math" and tool.parameters, tool
        assert any(t.name == "calculator" for t in client.list_tools(category="math"))
        result = client.execute_tool("calculator", arguments={"expression": "2 + 2"})
        assert isinstance(result, ToolExecutionResult) and result.success and result.text == "4", result
        checks += 1

        models = client.list_openai_models()
        assert any(isinstance(m, OpenAIModel) and m.id == "shannon-chat" for m in models), models
        model = client.get_openai_model("shannon-deep-research")
        assert isinstance(model, OpenAIModel) and model.description, model
        messages = [{"role": "user", "content": "Hello from shannon-sdk"}]
        completion = client.create_completion({"messages": messages})
        assert "Hello from shannon-sdk" in completion["output_text"], completion
        events = list(client.stream_completion({"messages": messages}))
        assert events[-1]["type"] == "done", events
        assert "".join(e.get("text", "") for e in events if e["type"] == "content_delta"), events
        checks += 1

        chat = client.create_chat_completion(messages, model="shannon-chat", session_id="sdk-chat-1")
        assert isinstance(chat, OpenAIChatCompletion), chat
        assert "Hello from shannon-sdk" in chat.choices[0].message.content, chat
        chunks = list(client.stream_chat_completion(messages, model="shannon-chat", include_usage=True))
        assert chunks and all(isinstance(c, OpenAIChatCompletionChunk) for c in chunks), chunks
        text = "".join(ch.delta.content or "" for c in chunks for ch in c.choices if ch.delta)
        assert "Hello from shannon-sdk" in text, text
        assert any(c.usage and c.usage.total_tokens > 0 for c in chunks), chunks
        seen = {e.type for c in chunks for e in c.shannon_events}
        assert "WORKFLOW_COMPLETED" in seen, seen
        checks += 1

        # An approval from the stream, as the SDK's own example (streaming_with_approvals.py) does
        # it: its `Event` keeps no payload (`Event.payload` parses the message as JSON for this
        # type), so the example reads `id=<uuid>` from the message with exactly this pattern.
        handle = client.submit_task("Ask me first, please.", context={"require_approval": True})
        approval_id = None
        example_types = [
            EventType.AGENT_STARTED,
            EventType.LLM_PARTIAL,
            EventType.TOOL_INVOKED,
            EventType.APPROVAL_REQUESTED,
            EventType.APPROVAL_DECISION,
            EventType.WORKFLOW_COMPLETED,
        ]
        for event in client.stream(handle.workflow_id, types=example_types, total_timeout=60):
            if event.type == EventType.APPROVAL_REQUESTED:
                match = re.search(r'id=([a-f0-9-]{36})', event.message)
                assert match, event.message
                approval_id = match.group(1)
                break
        assert approval_id, "the stream had no APPROVAL_REQUESTED"
        assert client.approve(approval_id, handle.workflow_id, approved=True), approval_id
        status = client.wait(handle.task_id, timeout=60, poll_interval=0.2)
        assert "COMPLETED" in str(status.status), status
        checks += 1

        # Plan review: the SDK reads the revised plan from the feedback response's flat fields.
        handle = client.submit_task(
            "History of tidal power", context={"force_research": True, "require_review": True}
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                review = client.get_review_state(handle.workflow_id)
                if review.status == "reviewing" and review.current_plan:
                    break
            except Exception:  # noqa: BLE001 - no review yet
                pass
            assert time.monotonic() < deadline, "no plan to review"
            time.sleep(0.2)
        revised = client.submit_review_feedback(handle.workflow_id, "Add wind power", version=review.version)
        assert isinstance(revised, ReviewState), revised
        assert revised.round == review.round + 1 and revised.version > review.version, revised
        assert revised.current_plan and "Add wind power" in revised.current_plan, revised
        assert any(r.role == "user" and r.message == "Add wind power" for r in revised.rounds), revised
        assert client.approve_review(handle.workflow_id, version=revised.version)
        status = client.wait(handle.task_id, timeout=60, poll_interval=0.2)
        assert "COMPLETED" in str(status.status), status
        checks += 1

        # A Shannon API key (`sk_…`, made with the launch token) as an SDK user configures one: the
        # SDK sends it as X-API-Key; it reads the tasks, and a key revoked is refused.
        req = urllib.request.Request(
            f"{base.rstrip('/')}/api/v1/auth/api-keys",
            data=json.dumps({"name": "sdk"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            created = json.loads(resp.read())
        keyed = ShannonClient(base_url=base, api_key=created["api_key"])
        try:
            tasks, total = keyed.list_tasks(limit=5)
            assert total >= 1 and tasks, (total, tasks)
            assert keyed.get_status(handle.task_id).task_id == handle.task_id
            req = urllib.request.Request(
                f"{base.rstrip('/')}/api/v1/auth/api-keys/{created['id']}",
                headers={"Authorization": f"Bearer {token}"},
                method="DELETE",
            )
            urllib.request.urlopen(req, timeout=30).close()
            try:
                keyed.list_tasks(limit=5)
                raise AssertionError("a revoked key still reads")
            except AuthenticationError:
                pass
        finally:
            keyed.close()
        checks += 1
    finally:
        client.close()
    print(f"shannon-sdk client: {checks} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
