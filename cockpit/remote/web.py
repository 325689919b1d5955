"""`cockpit attach RUN_DIR --web`: the attached cockpit in a browser, through textual-serve.

textual-serve has no authentication, and any local user can reach a loopback port, so the server
binds 127.0.0.1 only and every page and the websocket require a random token, printed in the
address to open (as Jupyter does); without it the answer is 403. Only textual-serve's static
files (its JavaScript and CSS) are served without it. Each browser tab runs its own
`cockpit attach RUN_DIR` process, a viewer like any other.
"""

from __future__ import annotations

import hmac
import secrets
import shlex
import socket
import sys
from pathlib import Path

from cockpit.engine.config import ConfigError

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def make_server(run_dir: Path, port: int, token: str):
    try:
        import aiohttp_jinja2
        import jinja2
        from aiohttp import web
        from textual_serve.server import Server
    except ImportError:
        raise ConfigError("--web: textual-serve is not installed (expected: pip install 'cockpit[web]')") from None

    class TokenServer(Server):
        """textual-serve's server with every route but the static files behind the token."""

        async def _make_app(self) -> web.Application:
            app = web.Application(middlewares=[self.require_token])
            aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
            app.add_routes([
                web.get("/", self.handle_index, name="index"),
                web.get("/ws/{token}", self.handle_websocket, name="websocket"),
                web.static("/static", self.statics_path, name="static"),
            ])
            return app

        @web.middleware
        async def require_token(self, request: web.Request, handler):
            if request.path.startswith("/static/"):
                return await handler(request)
            given = request.match_info.get("token") or request.query.get("token", "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise web.HTTPForbidden(text="403: this cockpit needs the token in the address printed when it started\n")
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
            web.run_app(self._make_app(), host=HOST, port=self.port, handle_signals=True,
                        print=lambda _banner: print(
                            f"cockpit: serving the cockpit on {run_dir} to a browser: open\n"
                            f"    {self.public_url}/?token={token}\n(Ctrl+C to stop serving; the run goes on)", flush=True))

    command = shlex.join([sys.executable, "-m", "cockpit", "attach", str(Path(run_dir).resolve())])
    return TokenServer(command, host=HOST, port=port, title=f"cockpit · {Path(run_dir).name}")


def serve(run_dir: Path, port: int | None = None) -> int:
    server = make_server(run_dir, port or free_port(), secrets.token_urlsafe(24))
    server.serve()
    return 0
