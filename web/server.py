"""Running the clinic server on waitress (a production WSGI server, pure Python).

Plain HTTP only on this machine (loopback addresses): any other address is refused until HTTPS
is available (a later slice of the clinic-server issue), since passwords and patient data would
otherwise cross the clinic network unencrypted.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from station.errors import ConfigError, StationError
from web.accounts import Accounts
from web.settings import ensure_secret_key, is_loopback

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8080
DEFAULT_THREADS: Final = 4


class ServeRefusedError(ConfigError):
    """The server will not run as asked (the message says why and what to do instead)."""


def check_host(host: str, port: int) -> None:
    if not is_loopback(host):
        raise ServeRefusedError(
            f"refusing to serve on {host}: plain HTTP would carry passwords and patient data "
            "across the network unencrypted, and HTTPS (the clinic's certificate) is not "
            f"available yet. Serve on 127.0.0.1 (the default) and open "
            f"http://127.0.0.1:{port}/ on this machine"
        )
    if not 0 <= port <= 65535:
        raise ServeRefusedError(f"port {port} is not a TCP port (0-65535)")


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def init(data_dir: Path) -> list[str]:
    """Create the secret key and the accounts database if absent; returns what was done."""
    path, created = ensure_secret_key(data_dir)
    lines = [
        f"{'created' if created else 'kept'} the secret key {path} (readable by its owner only)"
    ]
    with Accounts.open(data_dir) as accounts:
        users = accounts.count_users()
        lines.append(f"accounts database {accounts.path}: {users} user(s)")
    if users == 0:
        lines.append("next: create the first account: station user add NAME --role admin")
    return lines


def make_server(
    data_dir: Path, host: str, port: int, *, threads: int = DEFAULT_THREADS
) -> tuple[Any, Any]:
    """(waitress server, Flask app) bound to ``host:port`` (port 0: any free port)."""
    import waitress

    from web import create_app

    check_host(host, port)
    app = create_app({"DATA_DIR": str(data_dir), "SERVER_HOST": host})
    try:
        server = waitress.create_server(
            app, host=host, port=port, threads=threads, ident="dexterity-station"
        )
    except OSError as exc:
        from web import close_app

        close_app(app)
        raise StationError(
            f"cannot listen on {url_of(host, port)} ({exc.strerror or exc}); is another server "
            "running there? Choose another port with --port"
        ) from None
    return server, app


def bound_port(server: Any) -> int:
    """The port the server listens on (the first one if a name resolved to several addresses)."""
    if hasattr(server, "effective_port"):
        return int(server.effective_port)
    return int(server.effective_listen[0][1])


def _socket_map(server: Any) -> dict[int, Any]:
    return getattr(server, "map", None) or server._map  # type: ignore[no-any-return]


def stop(server: Any) -> None:
    """Stop a server running in another thread: its loop closes every socket and ends."""
    from waitress import wasyncore

    sockets = _socket_map(server)
    trigger = next((d for d in list(sockets.values()) if hasattr(d, "pull_trigger")), None)
    if trigger is None:
        wasyncore.close_all(sockets)
    else:  # run the close in the loop's own thread
        trigger.pull_trigger(lambda: wasyncore.close_all(sockets))


def _close(server: Any) -> None:
    from waitress import wasyncore

    wasyncore.close_all(_socket_map(server))
    server.task_dispatcher.shutdown()


def _stop_on_sigterm() -> None:
    """Let SIGTERM stop the server like Ctrl-C (waitress ends its loop on KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run(
    data_dir: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    threads: int = DEFAULT_THREADS,
    say: Callable[[str], None] = print,
) -> int:
    """Serve until interrupted (Ctrl-C raises KeyboardInterrupt to the caller)."""
    from web import close_app
    from web.state import state

    server, app = make_server(data_dir, host, port, threads=threads)
    try:
        with app.app_context():
            users = state().accounts.count_users()
        url = url_of(host, bound_port(server))
        say(f"clinic server: {url} (plain HTTP on this machine only; data in {data_dir})")
        if users == 0:
            say(
                "no accounts yet: create one with `station user add NAME --role admin`, "
                f"then sign in at {url}auth/sign-in"
            )
        else:
            say(
                f"sign in at {url}auth/sign-in with an account from `station user list`; "
                "programs use `station user token NAME --label L` and "
                "'Authorization: Bearer <token>'"
            )
        say("Ctrl-C stops")
        _stop_on_sigterm()
        server.run()  # returns on Ctrl-C (and SIGTERM, e.g. from systemd)
        say("clinic server stopped")
    finally:
        _close(server)
        close_app(app)
    return 0
