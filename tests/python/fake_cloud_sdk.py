"""Cross-checks the fake Shannon cloud (examples/fake_cloud.rs) with the official `shannon-sdk`
0.7.0, which was written against the real cloud: submit, status, list, stored events, the SSE
stream with a resume, control (pause, resume, cancel), sessions and schedules. What the SDK parses
must be what the fake serves; a fake the SDK misreads is wrong.
Usage: fake_cloud_sdk.py BASE_URL API_KEY"""

import json
import sys
import time
import urllib.request

from shannon import ShannonClient, errors


def admin(base: str, path: str, body: dict) -> dict:
    """The fake's own admin routes (`/__fake/...`), not part of the cloud."""
    req = urllib.request.Request(
        f"{base}/__fake/{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
    return json.loads(raw) if raw else {}


def script(deltas: int, delay_ms: int) -> dict:
    steps = [
        {"type": "WORKFLOW_STARTED", "agent_id": "orchestrator", "message": "Starting up"},
        {"type": "AGENT_STARTED", "agent_id": "simple-agent", "message": "Agent started"},
    ]
    steps += [{"type": "LLM_PARTIAL", "agent_id": "simple-agent", "message": f"part{i} "} for i in range(deltas)]
    steps += [
        {"type": "LLM_OUTPUT", "agent_id": "final_output", "message": "the answer"},
        {"type": "WORKFLOW_COMPLETED", "agent_id": "orchestrator", "message": "All done"},
        {"type": "STREAM_END", "agent_id": "orchestrator", "message": "Done"},
    ]
    return {"steps": steps, "delay_ms": delay_ms, "outcome": {"kind": "completed"}}


def main() -> int:
    base, key = sys.argv[1], sys.argv[2]
    client = ShannonClient(base_url=base, api_key=key)
    checks = 0
    try:
        # Submit: the SDK takes the workflow and session ids from the headers.
        admin(base, "script", script(4, 20))
        handle = client.submit_task("What is the fake cloud?", session_id="sdk-fake-1")
        assert handle.task_id.startswith("task-") and handle.workflow_id == handle.task_id, handle
        assert handle.session_id == "sdk-fake-1", handle
        checks += 1

        # Stream: named events with the cloud's renames; resume after a stream id loses nothing.
        events = list(client.stream(handle.workflow_id, total_timeout=30))
        types = [e.type for e in events]
        assert types == [
            "WORKFLOW_STARTED", "AGENT_STARTED", "thread.message.delta", "thread.message.delta",
            "thread.message.delta", "thread.message.delta", "thread.message.completed",
            "WORKFLOW_COMPLETED", "done",
        ], types
        assert all(e.stream_id and "-" in e.stream_id for e in events), events
        assert [e.seq for e in events[:-1]] == list(range(1, 9)), [e.seq for e in events]
        assert events[-1].message == "[DONE]", events[-1]
        assert events[0].message == "Starting up" and events[0].agent_id == "orchestrator", events[0]
        resumed = list(client.stream(handle.workflow_id, last_event_id=events[3].stream_id, total_timeout=30))
        assert [e.stream_id for e in resumed] == [e.stream_id for e in events[4:]], resumed
        log = json.loads(urllib.request.urlopen(f"{base}/__fake/log?workflow_id={handle.workflow_id}").read())
        assert [e["stream_id"] for e in log["events"]] == [e.stream_id for e in events], log
        checks += 1

        # Status, list, stored events (no deltas).
        status = client.wait(handle.task_id, timeout=30, poll_interval=0.1)
        assert status.status.value == "COMPLETED" and status.result == "the answer", status
        assert status.usage and status.usage["total_tokens"] == 150, status.usage
        assert status.metadata["model_breakdown"][0]["model"] == "gpt-5-mini", status.metadata
        tasks, total = client.list_tasks(limit=10)
        assert total >= 1 and tasks[0].task_id == handle.task_id, tasks
        assert "COMPLETED" in str(tasks[0].status) and tasks[0].total_token_usage.total_tokens == 150, tasks[0]
        stored = client.get_task_events(handle.task_id)
        assert [e.type for e in stored] == [
            "WORKFLOW_STARTED", "AGENT_STARTED", "LLM_OUTPUT", "WORKFLOW_COMPLETED", "STREAM_END",
        ], stored
        try:
            client.list_tasks(status="PAUSED")
            raise AssertionError("status=PAUSED must be refused")
        except errors.ValidationError:
            pass
        checks += 1

        # Idempotency: the replay returns the same task.
        a = client.submit_task("once", idempotency_key="sdk-idem-1")
        b = client.submit_task("once", idempotency_key="sdk-idem-1")
        assert a.task_id == b.task_id, (a, b)
        checks += 1

        # Control: 202s the SDK reads as success, then 502 on a finished task.
        admin(base, "script", script(40, 100))
        run = client.submit_task("a long one", session_id="sdk-fake-1")
        assert client.pause_task(run.task_id, reason="hold on")
        state = client.get_control_state(run.task_id)
        assert state.is_paused and state.pause_reason == "hold on" and state.paused_at, state
        assert client.get_status(run.task_id).status.value == "PAUSED"
        time.sleep(0.3)  # blocked at the next checkpoint (WORKFLOW_PAUSED) before the resume
        assert client.resume_task(run.task_id)
        assert not client.get_control_state(run.task_id).is_paused
        assert client.cancel(run.task_id, reason="enough")
        final = client.wait(run.task_id, timeout=30, poll_interval=0.1)
        assert final.status.value == "CANCELLED", final
        seen = [e.type for e in client.stream(run.workflow_id, total_timeout=30)]
        for name in ("workflow.pausing", "workflow.paused", "workflow.resumed", "workflow.cancelling", "workflow.cancelled"):
            assert name in seen, (name, seen)
        try:
            client.pause_task(run.task_id)
            raise AssertionError("pausing a cancelled task must fail")
        except errors.ServerError as e:
            assert "cannot pause cancelled task" in str(e), e
        assert client.cancel(run.task_id) is False
        checks += 1

        # Sessions: the SDK resolves the client's own id from context.external_id.
        sessions, total = client.list_sessions()
        mine = [s for s in sessions if s.session_id == "sdk-fake-1"]
        assert mine and mine[0].message_count == 2 and mine[0].title, sessions
        session = client.get_session("sdk-fake-1")
        assert session.session_id == "sdk-fake-1" and session.task_count == 2, session
        history = client.get_session_history("sdk-fake-1")
        assert [h.query for h in history] == ["What is the fake cloud?", "a long one"], history
        turns, count = client.get_session_events("sdk-fake-1")
        assert count == 2 and turns[0].final_output == "the answer", turns
        assert all(e.type != "LLM_PARTIAL" for t in turns for e in t.events), turns
        assert client.update_session_title("sdk-fake-1", "Renamed by the SDK")
        assert client.get_session("sdk-fake-1").title == "Renamed by the SDK"
        assert client.delete_session("sdk-fake-1")
        try:
            client.get_session("sdk-fake-1")
            raise AssertionError("a deleted session must be gone")
        except errors.SessionNotFoundError:
            pass
        checks += 1

        # Schedules: the cloud's limits, then CRUD.
        try:
            client.create_schedule("too often", "*/5 * * * *", "digest")
            raise AssertionError("a 5-minute cron must be refused")
        except errors.ValidationError as e:
            assert "interval too short" in str(e), e
        created = client.create_schedule("nightly", "0 3 * * *", "digest", max_budget_per_run_usd=1.5)
        sid = created["schedule_id"]
        assert created["next_run_at"], created
        sched = client.get_schedule(sid)
        assert sched.name == "nightly" and sched.status == "ACTIVE" and sched.next_run_at, sched
        listed, total = client.list_schedules()
        assert total == 1 and listed[0].schedule_id == sid, listed
        assert client.update_schedule(sid, name="nightly digest")["success"]
        assert client.pause_schedule(sid)
        assert client.get_schedule(sid).status == "PAUSED"
        assert client.resume_schedule(sid)
        runs, total = client.get_schedule_runs(sid)
        assert runs == [] and total == 0, runs
        assert client.delete_schedule(sid)
        assert client.list_schedules() == ([], 0)
        checks += 1

        # Auth: a wrong key is refused; a JWT from the fake works as a bearer token.
        bad = ShannonClient(base_url=base, api_key="sk_not_a_key")
        try:
            bad.list_tasks()
            raise AssertionError("a wrong key must be refused")
        except errors.AuthenticationError:
            pass
        finally:
            bad.close()
        tokens = admin(base, "tokens", {})
        bearer = ShannonClient(base_url=base, bearer_token=tokens["access_token"])
        try:
            assert bearer.get_status(handle.task_id).status.value == "COMPLETED"
        finally:
            bearer.close()
        checks += 1
    finally:
        client.close()
    print(f"fake cloud x shannon-sdk: {checks} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
