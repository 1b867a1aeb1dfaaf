"""The session problem, for real, on this machine (127.0.0.1 only).

Two replicas of one tiny web app run as HTTP servers; a round-robin "load balancer" sends a
user's requests to them in turn. A login stores a session file in the replica's session
directory. With ``shared_store=False`` each replica has its own directory (state on its own
disk); with ``shared_store=True`` both use one directory (a shared volume or an external store).
"""

from __future__ import annotations

import tempfile
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOST = "127.0.0.1"
# Loopback traffic never goes through a proxy, whatever the environment says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _handler(replica: str, sessions: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep the notebook quiet
            pass

        def _reply(self, code: int, body: str, cookie: str | None = None) -> None:
            self.send_response(code)
            self.send_header("X-Replica", replica)
            if cookie:
                self.send_header("Set-Cookie", f"session={cookie}")
            self.end_headers()
            self.wfile.write(body.encode())

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            sid = uuid.uuid4().hex[:8]
            (sessions / sid).write_text("user=ann")
            self._reply(200, f"logged in on {replica}", sid)

        def do_GET(self) -> None:  # noqa: N802
            sid = (self.headers.get("Cookie") or "").removeprefix("session=")
            if sid and (sessions / sid).exists():
                self._reply(200, f"profile of {(sessions / sid).read_text()}")
            else:
                self._reply(401, "who are you? (no such session here)")

    return Handler


@dataclass
class DemoResult:
    """What the user saw: one row per request."""

    shared_store: bool
    rows: list[dict[str, object]] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """Profile requests made after the login."""
        return len(self.rows) - 1

    @property
    def lost(self) -> int:
        """Profile requests answered "who are you?"."""
        return sum(1 for r in self.rows[1:] if r["status"] == 401)

    def show(self) -> None:
        """Print the requests as a table."""
        store = "one shared store" if self.shared_store else "each replica's own /tmp"
        print(f"sessions kept in {store}:")
        for r in self.rows:
            print(f"  {r['request']:<14} -> {r['replica']:<10} {r['status']}  {r['body']}")
        print(f"  lost sessions: {self.lost} of {self.requests}")


def run_demo(*, shared_store: bool, requests: int = 6) -> DemoResult:
    """Start two replicas, log in once, then ask for the profile ``requests`` times."""
    with tempfile.TemporaryDirectory(prefix="stslab-sessions-") as tmp:
        shared = Path(tmp) / "shared"
        servers = []
        for name in ("replica-a", "replica-b"):
            store = shared if shared_store else Path(tmp) / name
            store.mkdir(exist_ok=True)
            srv = ThreadingHTTPServer((HOST, 0), _handler(name, store))
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            servers.append(srv)
        result = DemoResult(shared_store)
        cookie = ""
        try:
            for i in range(requests + 1):
                srv = servers[i % len(servers)]  # round robin, as a load balancer would
                url = f"http://{HOST}:{srv.server_address[1]}/"
                req = urllib.request.Request(
                    url, method="POST" if i == 0 else "GET", headers={"Cookie": f"session={cookie}"}
                )
                try:  # generous: a busy laptop's kernel may be slow to serve its own thread
                    with _DIRECT.open(req, timeout=60) as resp:
                        status, body, headers = resp.status, resp.read().decode(), resp.headers
                except urllib.error.HTTPError as e:
                    status, body, headers = e.code, e.read().decode(), e.headers
                if i == 0:
                    cookie = (headers.get("Set-Cookie") or "").removeprefix("session=")
                result.rows.append(
                    {
                        "request": "POST /login" if i == 0 else "GET /profile",
                        "replica": headers.get("X-Replica"),
                        "status": status,
                        "body": body,
                    }
                )
        finally:
            for srv in servers:
                srv.shutdown()
                srv.server_close()
    return result
