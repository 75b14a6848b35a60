"""Reads `GET /metrics` with the Prometheus project's own parser (`prometheus_client`): the text
must parse, carry every family the README lists, and move with a task: while one waits for its
approval with an SSE client reading it, it is counted running with an open stream and a
subscription; once approved and completed, the completed count, the events counter and the token
counter have moved. Without the token it is refused.
Usage: metrics_client.py BASE_URL TOKEN"""

import json
import re
import sys
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

FAMILIES = [
    "shannon_build_info",
    "shannon_tasks",
    "shannon_tokens_total",
    "shannon_cost_usd_total",
    "shannon_events_total",
    "shannon_event_backlog_events",
    "shannon_event_backlog_bytes",
    "shannon_event_store_failing",
    "shannon_live_streams",
    "shannon_subscriptions",
]


def request(url: str, token: str | None, body: dict | None = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape(base: str, token: str) -> dict[tuple[str, tuple], float]:
    """Every sample, keyed by (name, sorted labels), through the official parser."""
    status, text = request(f"{base}/metrics", token)
    assert status == 200, (status, text)
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, (key, sorted(samples))
    return samples[key]


def task_status(base: str, token: str, task_id: str) -> str:
    status, text = request(f"{base}/api/v1/tasks/{task_id}", token)
    assert status == 200, (status, text)
    return json.loads(text)["status"]


def main() -> int:
    base, token = sys.argv[1].rstrip("/"), sys.argv[2]
    status, _ = request(f"{base}/metrics", None)
    assert status == 401, status

    before = scrape(base, token)
    names = {name for name, _ in before}
    for family in FAMILIES:
        assert family in names, (family, sorted(names))
    assert {dict(labels)["status"] for name, labels in before if name == "shannon_tasks"} >= {
        "queued", "running", "paused", "completed", "failed", "cancelled"
    }

    # A task that waits for its approval, read by an SSE client until it asks.
    status, text = request(
        f"{base}/api/v1/tasks",
        token,
        {"query": "Count me while I wait, please.", "context": {"require_approval": True}},
    )
    assert status == 200, (status, text)
    task_id = json.loads(text)["task_id"]
    sse = urllib.request.Request(f"{base}/api/v1/stream/sse?workflow_id={task_id}")
    sse.add_header("Authorization", f"Bearer {token}")
    stream = urllib.request.urlopen(sse, timeout=60)
    approval_id = None
    while approval_id is None:
        line = stream.readline().decode()
        assert line, "the stream ended before the approval request"
        if line.startswith("data:") and "APPROVAL_REQUESTED" in line:
            approval_id = re.search(r"id=([a-f0-9-]{36})", json.loads(line[5:])["message"]).group(1)

    waiting = scrape(base, token)
    assert value(waiting, "shannon_tasks", status="running") == value(
        before, "shannon_tasks", status="running"
    ) + 1, "the waiting task is counted running"
    assert value(waiting, "shannon_live_streams") >= 1, "its event stream is open"
    assert value(waiting, "shannon_subscriptions") >= value(before, "shannon_subscriptions") + 1
    assert value(waiting, "shannon_events_total") > value(before, "shannon_events_total")

    status, text = request(
        f"{base}/api/v1/approvals/decision",
        token,
        {"workflow_id": task_id, "approval_id": approval_id, "approved": True},
    )
    assert status == 200, (status, text)
    while stream.readline():  # to the stream's end (`done`)
        pass
    stream.close()
    deadline = time.monotonic() + 60
    while task_status(base, token, task_id) != "TASK_STATUS_COMPLETED":
        assert time.monotonic() < deadline, task_status(base, token, task_id)
        time.sleep(0.1)

    after = scrape(base, token)
    assert value(after, "shannon_tasks", status="completed") == value(
        before, "shannon_tasks", status="completed"
    ) + 1
    assert value(after, "shannon_tasks", status="running") == value(
        before, "shannon_tasks", status="running"
    )
    assert value(after, "shannon_events_total") > value(waiting, "shannon_events_total")
    tokens = lambda s: value(s, "shannon_tokens_total", direction="input") + value(  # noqa: E731
        s, "shannon_tokens_total", direction="output"
    )
    assert tokens(after) > tokens(before), "the task's tokens are counted"
    assert value(after, "shannon_event_store_failing") == 0
    print(f"metrics_client: OK ({len(after)} samples parsed by prometheus_client; they moved with a task)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
