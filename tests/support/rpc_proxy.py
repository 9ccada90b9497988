"""A JSON-RPC endpoint on loopback in front of real nodes, for tests of a provider that lies.

Every request (alone or in a JSON-RPC batch) is sent to the upstream `route(method)` names (the
default upstream otherwise) and its reply may be changed by `rewrite(method, params, result)` before
it goes back: a provider that rewrites a field, serves a log from another fork, or freezes a tag.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Route = Callable[[str], str | None]
Rewrite = Callable[[str, list[Any], Any], Any]


class RpcProxy:
    def __init__(self, upstream: str, *, route: Route | None = None, rewrite: Rewrite | None = None) -> None:
        self.upstream = upstream
        self.route = route
        self.rewrite = rewrite
        self.calls: dict[str, int] = {}  # method -> requests carried
        self.batches = 0  # JSON-RPC batches carried
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the node's aiohttp client expects
            # The headers and the body go out as two writes: with Nagle's algorithm the second
            # waits for the client's delayed ACK of the first, 40 ms a reply on loopback.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = json.loads(body)
                if isinstance(request, list):
                    with proxy._lock:
                        proxy.batches += 1
                    reply: Any = [proxy._one(r) for r in request]
                else:
                    reply = proxy._one(request)
                out = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> RpcProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _one(self, request: dict[str, Any]) -> dict[str, Any]:
        method = str(request.get("method"))
        with self._lock:
            self.calls[method] = self.calls.get(method, 0) + 1
        target = (self.route(method) if self.route is not None else None) or self.upstream
        data = json.dumps(request).encode()
        upstream = urllib.request.Request(target, data, {"Content-Type": "application/json"})
        with urllib.request.urlopen(upstream, timeout=30) as response:
            reply: dict[str, Any] = json.loads(response.read())
        if self.rewrite is not None and "result" in reply:
            reply["result"] = self.rewrite(method, list(request.get("params") or []), reply["result"])
        return reply
