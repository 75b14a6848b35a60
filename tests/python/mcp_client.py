"""Drives the listener's /mcp endpoint with the official MCP Python SDK (`mcp`): initialize, list
the tools, run a task to its answer with submit_task and read it back with get_task; without the
token the connection is refused. Usage: mcp_client.py BASE_URL TOKEN"""

import json
import sys

import anyio
import httpx2
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client


async def session_calls(url: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                assert init.server_info.name == "shannon", init.server_info
                tools = {t.name for t in (await session.list_tools()).tools}
                for wanted in ("submit_task", "get_task", "list_sessions", "decide_approval"):
                    assert wanted in tools, tools
                answer = await session.call_tool("submit_task", {"query": "Hello from the MCP client"})
                assert not answer.is_error, answer
                text = "".join(c.text for c in answer.content if isinstance(c, types.TextContent))
                assert "Hello from the MCP client" in text, text
                listed = await session.call_tool("list_tasks", {"limit": 5})
                tasks = json.loads(listed.content[0].text)["tasks"]
                assert tasks, tasks
                task = await session.call_tool("get_task", {"task_id": tasks[0]["task_id"]})
                assert json.loads(task.content[0].text)["status"] == "TASK_STATUS_COMPLETED", task
                missing = await session.call_tool("get_task", {"task_id": "no-such-task"})
                assert missing.is_error, missing
    return 1


async def refused_without_token(url: str) -> int:
    try:
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(10)) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
    except BaseException:  # the SDK raises the refusal inside an exception group
        return 1
    raise AssertionError("the MCP endpoint answered without the token")


async def main(base: str, token: str) -> None:
    url = f"{base}/mcp"
    passed = await session_calls(url, token)
    passed += await refused_without_token(url)
    print(f"mcp client: {passed} passed, 0 failed")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2])
