"""Run the sandbox Cliniko on 127.0.0.1: in a daemon thread for tests and benchmarks, or in the
foreground for ``flask cliniko-sandbox``."""

from __future__ import annotations

import threading

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from devtools.sandbox import SandboxClinic
from devtools.sandbox.app import create_sandbox_app


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request: a benchmark sends tens of thousands."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class SandboxServer:
    """``with SandboxServer(clinic) as server:`` serves the clinic at ``server.url`` until the block
    ends. Port 0 picks a free port. Each request gets its own thread, like a real server would."""

    def __init__(self, clinic: SandboxClinic, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True) -> None:
        self.clinic = clinic
        self.app = create_sandbox_app(clinic)
        handler = _QuietHandler if quiet else WSGIRequestHandler
        self._server: BaseWSGIServer = make_server(host, port, self.app, threaded=True, request_handler=handler)
        self.host = host
        self.port: int = self._server.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url_template(self) -> str:
        """What the Cliniko client takes as its base URL; it fills ``{shard}`` from the key."""
        return f"{self.url}/{{shard}}/v1"

    @property
    def base_url(self) -> str:
        """The API root for this clinic's own shard."""
        return f"{self.url}/{self.clinic.shard}/v1"

    def start(self) -> SandboxServer:
        if self._thread is None:
            # A short poll interval: stop() waits for the loop to notice, and tests stop a server each.
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.02,), name="cliniko-sandbox", daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (Ctrl-C), then release the port."""
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._server.server_close()

    def stop(self) -> None:
        """Stop accepting requests and release the port; requests in flight finish on their own."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<SandboxServer {self.url} key={self.clinic.api_key}>"
