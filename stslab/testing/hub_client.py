"""A learner at the served room, without a browser: for tests and the benchmark.

What a browser does at the hub ``stslab workshop serve`` starts, over its HTTP API: log in with
a name and code (:func:`login`), wait for the learner's JupyterLab (:func:`wait_server`), and
run code in a kernel of that server the way a notebook does, over the kernel's websocket
(:func:`execute`). ``token`` comes from the hub's service token (:func:`user_token`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect


def session() -> requests.Session:
    """An HTTP session that never goes through a proxy (the hub is on loopback)."""
    s = requests.Session()
    s.trust_env = False
    return s


def login(base: str, name: str, code: str) -> requests.Response:
    """Log in at the hub's form as a browser does; the page the hub answers with."""
    s = session()
    s.get(f"{base}/hub/login", timeout=10)
    return s.post(
        f"{base}/hub/login",
        data={"username": name, "password": code, "_xsrf": s.cookies.get("_xsrf", "")},
        timeout=180,
    )


def page_text(r: requests.Response) -> str:
    """A page's text without its markup, on one line."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r.text))


def user_token(base: str, service_token: str, account: str) -> str:
    """A token for ``account``'s own server, asked of the hub with its service token."""
    r = session().post(
        f"{base}/hub/api/users/{account}/tokens",
        headers={"Authorization": f"token {service_token}"},
        json={"scopes": [f"access:servers!user={account}"], "expires_in": 3600},
        timeout=10,
    )
    r.raise_for_status()
    return str(r.json()["token"])


def wait_server(base: str, account: str, token: str, timeout: float = 180) -> None:
    """Wait until ``account``'s JupyterLab answers through the hub's proxy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = session().get(
            f"{base}/user/{account}/api/status",
            headers={"Authorization": f"token {token}"},
            timeout=10,
        )
        if r.status_code == 200:
            return
        time.sleep(1)
    raise TimeoutError(f"{account}'s server did not answer in {timeout:.0f} s")


async def _execute(base: str, account: str, token: str, code: str, timeout: float) -> str:
    auth = {"Authorization": f"token {token}"}
    r = session().post(f"{base}/user/{account}/api/kernels", headers=auth, json={}, timeout=timeout)
    r.raise_for_status()
    kernel = r.json()["id"]
    url = f"{base.replace('http', 'ws', 1)}/user/{account}/api/kernels/{kernel}/channels"
    # A busy room answers slowly: wait as long as a learner would.
    request = HTTPRequest(url, headers=auth, connect_timeout=timeout, request_timeout=timeout)
    ws = await websocket_connect(request)
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "session": uuid.uuid4().hex, "username": account}
    await ws.write_message(
        json.dumps(
            {
                "header": {**header, "msg_type": "execute_request", "version": "5.3", "date": ""},
                "parent_header": {},
                "metadata": {},
                "channel": "shell",
                "content": {"code": code, "silent": False, "allow_stdin": False},
            }
        )
    )
    out = []
    try:
        while True:
            raw = await asyncio.wait_for(ws.read_message(), timeout=timeout)
            if raw is None:
                raise ConnectionError(f"{account}'s kernel closed its channel")
            m = json.loads(raw)
            if m.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "stream":
                out.append(m["content"]["text"])
            elif m["msg_type"] == "error":
                out.append("\n".join(m["content"]["traceback"]))
            elif m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                return "".join(out)
    finally:
        ws.close()
        session().delete(f"{base}/user/{account}/api/kernels/{kernel}", headers=auth, timeout=10)


def execute(base: str, account: str, token: str, code: str, timeout: float = 600) -> str:
    """Run ``code`` in a new kernel of ``account``'s JupyterLab; what it printed."""
    return asyncio.run(_execute(base, account, token, code, timeout))
