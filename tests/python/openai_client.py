"""Drives the embedded listener with the official `openai` Python package: a chat completion and a
streamed one. Usage: openai_client.py BASE_URL TOKEN"""

import sys

from openai import OpenAI


def main() -> int:
    base, token = sys.argv[1], sys.argv[2]
    client = OpenAI(base_url=f"{base}/v1", api_key=token)

    models = [m.id for m in client.models.list()]
    assert "shannon-chat" in models, models

    reply = client.chat.completions.create(
        model="shannon-chat",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello from the openai package"},
        ],
    )
    text = reply.choices[0].message.content
    assert "Hello from the openai package" in text, text
    assert reply.usage.total_tokens > 0, reply.usage

    chunks = client.chat.completions.create(
        model="shannon-chat",
        messages=[{"role": "user", "content": "Stream this please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    deltas, usage, finish = [], None, None
    for chunk in chunks:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta and choice.delta.content:
                deltas.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    streamed = "".join(deltas)
    assert len(deltas) > 5, deltas
    assert "Stream this please" in streamed, streamed
    assert finish == "stop", finish
    assert usage is not None and usage.total_tokens > 0, usage
    print("openai client: 2 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
