"""``station serve`` and ``station user``: accounts, tokens, the secret key, the real server."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from station import cli
from station.config import load_config
from station.errors import ConfigError, StationError, UsageError
from tests.web.conftest import Filled, bearer, make_app
from web import cli as cli_web
from web import close_app, server
from web.accounts import Accounts
from web.settings import secret_key_path

#: Upper bound for the in-process server to start, answer or stop on a loaded CI machine (a
#: failure bound, not an expected duration).
SERVER_DEADLINE_S = 60.0


def run_web_cli(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    stdin: str | None = None,
) -> tuple[int, str, str]:  # fmt: skip
    """``station ARGV`` for the web subcommands, with the exit codes of ``station.cli.main``."""
    parser = cli._Parser(prog="station")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=cli._Parser)
    sub.required = True
    cli_web.add_parsers(sub, cli._Parser)
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        args = parser.parse_args(argv)
        code = cli_web.dispatch(args, load_config())
        assert code is not None
    except SystemExit as exc:
        code = int(exc.code or 0)
    except (ConfigError, UsageError) as exc:
        print(f"station: error: {exc}", file=sys.stderr)
        code = cli.EXIT_USAGE
    except StationError as exc:
        print(f"station: error: {exc}", file=sys.stderr)
        code = cli.EXIT_FAILED
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        return run_web_cli(list(argv), capsys, monkeypatch, stdin)

    return run


def test_user_add_makes_the_account_and_the_secret_key(run: Any, data_dir: Path) -> None:
    code, out, err = run("user", "add", "alice", "--role", "clinician", stdin="a-long-password\n")
    assert code == 0, err
    assert out.strip() == "added clinician alice"
    assert "secret key" in err
    assert os.stat(secret_key_path(data_dir)).st_mode & 0o777 == 0o600
    assert os.stat(data_dir / "web.sqlite").st_mode & 0o777 == 0o600  # password hashes, audit
    with Accounts.open(data_dir) as accounts:
        user = accounts.get_user("alice")
        assert user is not None and user.role == "clinician"
        entry = accounts.audit_entries(action="user.add")[0][0]
        assert entry.via == "cli" and entry.user_name.startswith("cli:")
        assert entry.detail == {"name": "alice", "role": "clinician"}

    assert run("user", "add", "alice", "--role", "admin", stdin="another-password\n")[0] == 1
    code, _, err = run("user", "add", "bad name", "--role", "admin", stdin="a-long-password\n")
    assert code == 2 and "not valid" in err
    code, _, err = run("user", "add", "bob", "--role", "admin", stdin="short\n")
    assert code == 2 and "at least 10 characters" in err
    code, _, err = run("user", "add", "bob", "--role", "admin", stdin="")
    assert code == 2 and "no password" in err
    code, _, err = run("user", "add", "bob", "--role", "superuser", stdin="a-long-password\n")
    assert code == 2 and "invalid choice" in err


def test_user_add_prompts_twice_on_a_terminal(
    run: Any, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(["first-password-1", "other-password-2"])
    monkeypatch.setattr(cli_web.getpass, "getpass", lambda prompt="": next(answers))
    monkeypatch.setattr(sys, "stdin", Tty())
    code, _, err = run("user", "add", "carol", "--role", "admin")
    assert code == 2 and "differ" in err
    answers = iter(["same-password-1", "same-password-1"])
    assert run("user", "add", "carol", "--role", "admin")[0] == 0


def test_tokens_list_revoke_unlock_and_password(run: Any, data_dir: Path, filled: Filled) -> None:
    assert run("user", "add", "alice", "--role", "clinician", stdin="a-long-password\n")[0] == 0
    code, out, err = run("user", "token", "alice", "--label", "study export")
    assert code == 0
    token = out.strip()
    assert token.startswith("dxs_") and "\n" not in token
    assert "shown only now" in err

    app = make_app(data_dir)
    try:
        client = app.test_client()
        assert client.get("/api/v1/participants", headers=bearer(token)).status_code == 200
        code, out, _ = run("user", "list")
        assert code == 0 and "alice" in out and "study export" in out and token not in out
        code, out, _ = run("user", "list", "--json")
        listed = json.loads(out)
        assert listed["users"][0]["name"] == "alice"
        token_id = listed["tokens"][0]["id"]
        assert listed["tokens"][0]["last_used_utc"] is not None
        code, out, _ = run("user", "revoke-token", str(token_id))
        assert code == 0 and "revoked" in out
        assert client.get("/api/v1/participants", headers=bearer(token)).status_code == 401
    finally:
        close_app(app)
    code, _, err = run("user", "revoke-token", "999")
    assert code == 1 and "no API token 999" in err
    assert run("user", "token", "nobody", "--label", "x")[0] == 1

    assert run("user", "unlock", "alice") == (0, "unlocked alice\n", "")
    code, out, _ = run("user", "password", "alice", stdin="a-new-password-2\n")
    assert code == 0 and "sessions have ended" in out
    with Accounts.open(data_dir) as accounts:
        actions = [e.action for e in accounts.audit_entries()[0]]
    for action in ("user.add", "token.create", "token.revoke", "user.unlock", "user.password"):
        assert action in actions


def test_serve_refuses_the_network_without_https(run: Any) -> None:
    for host in ("0.0.0.0", "192.0.2.10", "::", "station.local"):
        code, _, err = run("serve", "--host", host)
        assert code == 2, host
        assert f"refusing to serve on {host}" in err and "HTTPS" in err
        assert "127.0.0.1" in err


def test_serve_needs_a_secret_key(run: Any, data_dir: Path) -> None:
    code, _, err = run("serve")
    assert code == 2
    assert "no secret key" in err and "station serve --init" in err
    assert not secret_key_path(data_dir).exists()

    code, out, _ = run("serve", "--init")
    assert code == 0 and "created the secret key" in out and "station user add" in out
    assert os.stat(secret_key_path(data_dir)).st_mode & 0o777 == 0o600
    code, out, _ = run("serve", "--init")
    assert code == 0 and "kept the secret key" in out


@pytest.mark.parametrize("argv", [["--port", "70000"], ["--port", "x"], ["--threads", "0"]])
def test_serve_arguments(run: Any, argv: list[str]) -> None:
    assert run("serve", *argv)[0] == 2


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        # loopback only
        with urllib.request.urlopen(request, timeout=SERVER_DEADLINE_S) as response:
            return response.status, response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_the_real_server_on_loopback(
    data_dir: Path, filled: Filled, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`station serve` on cheroot, on a free port of 127.0.0.1, answering real HTTP."""
    app = make_app(data_dir)  # the secret key and an account
    with app.app_context():
        from web.state import state

        state().accounts.add_user("alice", "clinician", "alice-password-1")
        _, token = state().accounts.create_token("alice", "http")
    close_app(app)

    made: list[Any] = []
    real_make = server.make_server

    def make(*args: Any, **kwargs: Any) -> Any:
        made.append(real_make(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(server, "make_server", make)
    said: list[str] = []
    ready = threading.Event()

    def say(line: str) -> None:
        said.append(line)
        if line == "Ctrl-C stops":
            ready.set()

    thread = threading.Thread(
        target=server.run, args=(data_dir, "127.0.0.1", 0), kwargs={"say": say}, daemon=True
    )
    thread.start()
    try:
        assert ready.wait(SERVER_DEADLINE_S), said
        port = server.bound_port(made[0][0])
        base = f"http://127.0.0.1:{port}"
        assert said[0].startswith(f"clinic server: {base}/ (plain HTTP on this machine only")
        assert "sign in at" in said[1] and "/auth/sign-in" in said[1]

        status, kind, body = _get(f"{base}/auth/sign-in")
        assert status == 200 and kind == "text/html" and b"csrf_token" in body
        status, kind, body = _get(f"{base}/api/v1/participants")
        assert status == 401 and kind == "application/json" and b"P001" not in body
        status, _, body = _get(f"{base}/api/v1/participants", bearer(token))
        assert status == 200 and json.loads(body)["total"] == 3
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(f"{base}/", timeout=SERVER_DEADLINE_S)
        assert redirect.value.code == 302
        redirect.value.close()
    finally:
        if made:
            server.stop(made[0][0])
        thread.join(SERVER_DEADLINE_S)
    assert not thread.is_alive()


def test_the_parsers_fit_the_station_command() -> None:
    """The subcommands can be added next to the station's own (names do not clash)."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "serve" not in sub.choices:
        cli_web.add_parsers(sub, cli._Parser)
    args = parser.parse_args(["serve", "--port", "8081"])
    assert (args.command, args.host, args.port, args.init) == ("serve", "127.0.0.1", 8081, False)
    args = parser.parse_args(["user", "token", "alice", "--label", "x"])
    assert (args.command, args.what, args.name, args.label) == ("user", "token", "alice", "x")


def test_the_serve_options_for_https_and_mdns() -> None:
    parser = cli._Parser(prog="station")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=cli._Parser)
    cli_web.add_parsers(sub, cli._Parser)
    args = parser.parse_args(["serve"])
    assert (args.port, args.tls_cert, args.tls_key, args.tls) == (None, None, None, None)
    assert (args.no_mdns, args.mdns_name, args.renew_cert) == (False, None, False)
    args = parser.parse_args(
        ["serve", "--host", "::", "--tls-cert", "/etc/ssl/s.pem", "--tls-key", "/etc/ssl/s.key",
         "--no-mdns", "--mdns-name", "  Ward 3   station "]
    )  # fmt: skip
    assert args.host == "::" and args.tls_cert == Path("/etc/ssl/s.pem")
    assert args.tls_key == Path("/etc/ssl/s.key") and args.no_mdns
    assert args.mdns_name == "Ward 3 station"
    args = parser.parse_args(["serve", "--init", "--renew-cert"])
    assert args.init and args.renew_cert
    assert parser.parse_args(["serve", "--tls"]).tls is True
    assert parser.parse_args(["serve", "--no-tls"]).tls is False
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--tls", "--no-tls"])


def test_serve_init_prints_the_certificate_fingerprint(run: Any, data_dir: Path) -> None:
    from web import tls

    code, out, _ = run("serve", "--init")
    assert code == 0
    info = tls.load_certificate(*tls.default_paths(data_dir))
    assert f"SHA-256 fingerprint: {info.fingerprint_sha256}" in out
    assert "created the TLS certificate" in out
