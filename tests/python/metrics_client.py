"""Reads `GET /metrics` with the Prometheus project's own parser (`prometheus_client`): the text
must parse, and carry the task gauge and the events counter. Without the token it is refused.
Usage: metrics_client.py BASE_URL TOKEN"""

import sys
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def get(url: str, token: str | None) -> tuple[int, str]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main() -> int:
    base, token = sys.argv[1].rstrip("/"), sys.argv[2]
    status, _ = get(f"{base}/metrics", None)
    assert status == 401, status
    status, text = get(f"{base}/metrics", token)
    assert status == 200, (status, text)
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append(s)
    assert "shannon_tasks" in samples, sorted(samples)
    assert {s.labels["status"] for s in samples["shannon_tasks"]} >= {"running", "completed"}
    assert "shannon_events_total" in samples, sorted(samples)
    assert samples["shannon_events_total"][0].value >= 0
    print(f"metrics_client: OK ({len(samples)} metrics parsed by prometheus_client)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
