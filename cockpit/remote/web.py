"""`cockpit attach RUN_DIR --web`: the attached cockpit in a browser, through textual-serve.

textual-serve has no authentication, and any local user can reach a loopback port, so the server
binds 127.0.0.1 only and every page and the websocket require a random token, printed in the
address to open (as Jupyter does); without it the answer is 403. Only textual-serve's static
files (its JavaScript and CSS) are served without it. Each browser tab runs its own
`cockpit attach RUN_DIR` process, a viewer like any other.

The server owns those processes: textual-serve only asks a viewer to quit, and one whose page went
while it was writing (a tab closed as it loaded) blocks on its full output pipe, never hears it, and
outlives the server. Here a viewer whose page is gone is sent SIGTERM, then SIGKILL after
`TERMINATE_S`, and the server ends every viewer before it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
import shlex
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from cockpit.engine.config import ConfigError

HOST = "127.0.0.1"
TERMINATE_S = 3.0
"""How long a viewer has to exit after SIGTERM before it is killed."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def make_server(run_dir: Path, port: int, token: str, options: Sequence[str] = ()):
    try:
        import aiohttp_jinja2
        import jinja2
        from aiohttp import web
        from textual_serve.app_service import AppService
        from textual_serve.server import Server, to_int
    except ImportError:
        raise ConfigError("--web: textual-serve is not installed (expected: pip install 'cockpit[web]')") from None

    class ViewerProcess(AppService):
        """textual-serve's session for one page, holding on to its process to end it."""

        process: asyncio.subprocess.Process | None = None

        async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
            self.process = await super()._open_app_process(width, height)
            return self.process

        async def end(self) -> None:
            """SIGTERM, then SIGKILL; then textual-serve's own clean-up, which waits for the output to end."""
            process = self.process
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):  # it has just exited
                    process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), TERMINATE_S)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
            await self.stop()

    class TokenServer(Server):
        """textual-serve's server with every route but the static files behind the token."""

        async def _make_app(self) -> web.Application:
            app = web.Application(middlewares=[self.require_token])
            aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
            app.add_routes(
                [
                    web.get("/", self.handle_index, name="index"),
                    web.get("/ws/{token}", self.handle_websocket, name="websocket"),
                    web.static("/static", self.statics_path, name="static"),
                ]
            )
            self.viewers: dict[ViewerProcess, web.WebSocketResponse] = {}
            app.on_shutdown.append(self.end_viewers)
            return app

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            """textual-serve's, but the viewer process is ended with its page, however the page went."""
            websocket = web.WebSocketResponse(heartbeat=15)
            await websocket.prepare(request)

            async def close() -> None:
                await websocket.close()

            viewer = ViewerProcess(
                self.command,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=close,
                download_manager=self.download_manager,
                debug=self.debug,
            )
            self.viewers[viewer] = websocket
            try:
                await viewer.start(
                    to_int(request.query.get("width", "80"), 80), to_int(request.query.get("height", "24"), 24)
                )
                await self._process_messages(websocket, viewer)
            finally:
                del self.viewers[viewer]
                await asyncio.shield(viewer.end())  # also when the server cancels this handler
            return websocket

        async def end_viewers(self, _app: web.Application) -> None:
            """Before the server stops: every viewer ended, every page closed."""
            viewers = list(self.viewers.items())
            await asyncio.gather(*(viewer.end() for viewer, _ in viewers))
            await asyncio.gather(*(websocket.close() for _, websocket in viewers))

        @web.middleware
        async def require_token(self, request: web.Request, handler):
            if request.path.startswith("/static/"):
                return await handler(request)
            given = request.match_info.get("token") or request.query.get("token", "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise web.HTTPForbidden(
                    text="403: this cockpit needs the token in the address printed when it started\n"
                )
            return await handler(request)

        @aiohttp_jinja2.template("app_index.html")
        async def handle_index(self, request: web.Request) -> dict:
            return {
                "font_size": 16,
                "app_websocket_url": f"ws://{HOST}:{self.port}/ws/{token}",
                "config": {"static": {"url": f"{self.public_url}/static/"}},
                "application": {"name": self.title},
            }

        def serve(self, debug: bool = False) -> None:
            """Until Ctrl+C or SIGTERM; the address is printed once the port listens."""
            self.debug = debug
            self.initialize_logging()
            web.run_app(
                self._make_app(),
                host=HOST,
                port=self.port,
                handle_signals=True,
                print=lambda _banner: print(
                    f"cockpit: serving the cockpit on {run_dir} to a browser: open\n"
                    f"    {self.public_url}/?token={token}\n(Ctrl+C to stop serving; the run goes on)",
                    flush=True,
                ),
            )

    # exec: textual-serve starts the command with a shell, which would take the signals, not the viewer
    command = "exec " + shlex.join([sys.executable, "-m", "cockpit", "attach", str(Path(run_dir).resolve()), *options])
    return TokenServer(command, host=HOST, port=port, title=f"cockpit · {Path(run_dir).name}")


def serve(run_dir: Path, port: int | None = None, options: Sequence[str] = ()) -> int:
    """`options`: more of `cockpit attach`'s flags for each viewer (e.g. --baseline)."""
    server = make_server(run_dir, port or free_port(), secrets.token_urlsafe(24), options)
    server.serve()
    return 0
