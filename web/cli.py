"""The ``station`` subcommands of the clinic server: ``serve`` and ``user``.

The server itself lives in the ``web`` package (Flask); this module imports it only when one of
these commands runs, so the station core never loads Flask.

- ``station serve [--host 127.0.0.1] [--port 8443|8080] [--workers 2] [--threads 4] [--tls-cert FILE
  --tls-key FILE] [--tls | --no-tls] [--no-mdns] [--mdns-name NAME]``: run the server (cheroot);
  HTTPS on network addresses, plain HTTP on loopback addresses only.
- ``station serve --init [--renew-cert]``: create the secret key, the accounts database and the
  self-signed certificate if absent (``--renew-cert``: a new certificate), then exit.
- ``station user add NAME --role clinician|admin``: the password from a prompt (twice), or one
  line on stdin when it is not a terminal.
- ``station user list [--json]``, ``station user token NAME --label L`` (prints the token once),
  ``station user revoke-token ID``, ``station user unlock NAME``, ``station user password NAME``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from station.config import StationConfig
from station.errors import UsageError

EXIT_OK = 0


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, got {value}")
    return value


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"give 1-64 threads, got {value}")
    return value


def _workers(text: str) -> int:
    from web.workers import MAX_WORKERS

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"give 1-{MAX_WORKERS} processes, got {value}")
    return value


def _mdns_name(text: str) -> str:
    name = " ".join(text.split())
    if not name or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise argparse.ArgumentTypeError("give a name of printable characters")
    if len(name.encode("utf-8")) > 63:
        raise argparse.ArgumentTypeError(f"at most 63 bytes, got {len(name.encode('utf-8'))}")
    return name


def add_parsers(sub: Any, parser_class: type) -> None:
    s = sub.add_parser(
        "serve", help="run the clinic server (results in a browser; JSON API under /api/v1)"
    )
    s.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 or :: for the clinic network, "
        "which needs HTTPS)",
    )
    s.add_argument(
        "--port", type=_port, default=None, help="TCP port (default 8443 for HTTPS, 8080 for HTTP)"
    )
    s.add_argument(
        "--threads", type=_threads, default=4, help="threads per server process (default 4)"
    )
    s.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help="server processes sharing the port (default 2 on a machine of two or more "
        "processors, else 1)",
    )
    s.add_argument(
        "--init",
        action="store_true",
        help="create the secret key, the accounts database and a self-signed TLS certificate "
        "(<data_dir>/tls/) if absent, then exit",
    )
    s.add_argument(
        "--renew-cert",
        action="store_true",
        help="with --init: replace the self-signed certificate by a new one",
    )
    s.add_argument(
        "--tls-cert",
        type=Path,
        metavar="FILE",
        help="the clinic's certificate (PEM, with its chain) instead of <data_dir>/tls/cert.pem "
        "(or $STATION_TLS_CERT)",
    )
    s.add_argument(
        "--tls-key",
        type=Path,
        metavar="FILE",
        help="its private key (PEM, no passphrase; or $STATION_TLS_KEY)",
    )
    mode = s.add_mutually_exclusive_group()
    mode.add_argument(
        "--tls",
        dest="tls",
        action="store_const",
        const=True,
        help="HTTPS on a loopback address too (network addresses always use HTTPS)",
    )
    mode.add_argument(
        "--no-tls",
        dest="tls",
        action="store_const",
        const=False,
        help="plain HTTP even with $STATION_TLS_CERT set (loopback addresses only)",
    )
    s.add_argument(
        "--no-mdns", action="store_true", help="do not announce the server on the network"
    )
    s.add_argument(
        "--mdns-name",
        type=_mdns_name,
        metavar="NAME",
        help="the name announced by mDNS (default: Dexterity Station <station id> (<hostname>))",
    )

    u = sub.add_parser("user", help="clinic server accounts and API tokens")
    u_sub = u.add_subparsers(dest="what", metavar="WHAT", parser_class=parser_class)
    u_sub.required = True
    add = u_sub.add_parser(
        "add", help="add an account (password from a prompt, or from stdin when piped)"
    )
    add.add_argument("name", help="user name: letters, digits, '.', '_' or '-'")
    add.add_argument("--role", required=True, choices=("clinician", "admin"))
    ls = u_sub.add_parser("list", help="list accounts and their API tokens")
    ls.add_argument("--json", action="store_true", help="print as JSON")
    tok = u_sub.add_parser("token", help="make an API token for a user (printed once)")
    tok.add_argument("name")
    tok.add_argument("--label", required=True, help="what the token is for, e.g. 'study export'")
    rev = u_sub.add_parser("revoke-token", help="revoke an API token (ids: `station user list`)")
    rev.add_argument("token_id", type=int)
    unl = u_sub.add_parser("unlock", help="clear a lockout after failed sign-ins")
    unl.add_argument("name")
    pw = u_sub.add_parser("password", help="set a new password (ends the user's browser sessions)")
    pw.add_argument("name")


def dispatch(args: argparse.Namespace, config: StationConfig) -> int | None:
    commands: dict[str, Callable[[argparse.Namespace, StationConfig], int]] = {
        "serve": _serve,
        "user": _user,
    }
    handler = commands.get(args.command)
    return None if handler is None else handler(args, config)


def _serve(args: argparse.Namespace, config: StationConfig) -> int:
    from web import server
    from web.workers import default_workers

    if args.renew_cert and not args.init:
        raise UsageError("--renew-cert goes with --init: station serve --init --renew-cert")
    if args.init:
        for line in server.init(config.data_dir, renew_cert=args.renew_cert):
            print(line)
        return EXIT_OK
    return server.run(
        config.data_dir,
        args.host,
        args.port,
        threads=args.threads,
        workers=args.workers if args.workers is not None else default_workers(),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls=args.tls,
        mdns=not args.no_mdns,
        mdns_name=args.mdns_name,
        station_id=config.station_id,
    )


def read_password(*, confirm: bool = True) -> str:
    """A password from the terminal (asked twice), or the first line of stdin when piped."""
    if sys.stdin is not None and sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if confirm and getpass.getpass("again: ") != first:
            raise UsageError("the two passwords differ; nothing was changed")
        return first
    line = sys.stdin.readline() if sys.stdin is not None else ""
    password = line.rstrip("\r\n")
    if not password:
        raise UsageError("no password: type it at the prompt, or give it as one line on stdin")
    return password


def _user(args: argparse.Namespace, config: StationConfig) -> int:
    from web.accounts import AccountError, Accounts, check_name, check_password, cli_actor
    from web.settings import ensure_secret_key

    actor = cli_actor()
    with Accounts.open(config.data_dir) as accounts:

        def record(action: str, **detail: Any) -> None:
            accounts.record(action, user_name=actor, via="cli", detail=detail)

        if args.what == "add":
            try:
                check_name(args.name)
            except AccountError as exc:
                raise UsageError(str(exc)) from None
            if accounts.get_user(args.name) is not None:
                raise AccountError(f"user {args.name!r} already exists")
            password = read_password()
            try:
                check_password(password)
            except AccountError as exc:
                raise UsageError(str(exc)) from None
            user = accounts.add_user(args.name, args.role, password)
            record("user.add", name=user.name, role=user.role)
            path, created = ensure_secret_key(config.data_dir)
            if created:
                print(f"created the server's secret key {path}", file=sys.stderr)
            print(f"added {user.role} {user.name}")
            return EXIT_OK
        if args.what == "list":
            return _list(accounts, args.json)
        if args.what == "token":
            token, secret = accounts.create_token(args.name, args.label)
            record("token.create", token_id=token.id, owner=token.user_name, label=token.label)
            print(
                f"API token {token.id} for {token.user_name} ({token.label}); it is shown only "
                "now, keep it secret. Use it as 'Authorization: Bearer <token>'; revoke with "
                f"`station user revoke-token {token.id}`:",
                file=sys.stderr,
            )
            print(secret)
            return EXIT_OK
        if args.what == "revoke-token":
            token = accounts.revoke_token(args.token_id)
            record("token.revoke", token_id=token.id, owner=token.user_name)
            print(f"revoked API token {token.id} of {token.user_name} ({token.label})")
            return EXIT_OK
        if args.what == "unlock":
            user = accounts.unlock(args.name)
            record("user.unlock", name=user.name)
            print(f"unlocked {user.name}")
            return EXIT_OK
        if args.what == "password":
            accounts.require_user(args.name)
            password = read_password()
            try:
                check_password(password)
            except AccountError as exc:
                raise UsageError(str(exc)) from None
            user = accounts.set_password(args.name, password)
            record("user.password", name=user.name)
            print(f"new password set for {user.name}; their browser sessions have ended")
            return EXIT_OK
    raise UsageError(f"unknown user command {args.what!r}")


def _list(accounts: Any, as_json: bool) -> int:
    from web import serialize

    users = accounts.list_users()
    tokens = accounts.list_tokens()
    if as_json:
        print(
            json.dumps(
                {
                    "users": [serialize.user(u) for u in users],
                    "tokens": [serialize.token(t) for t in tokens],
                },
                indent=2,
            )
        )
        return EXIT_OK
    if not users:
        print("no accounts yet: station user add NAME --role admin")
    now = accounts.now()
    for u in users:
        locked = f"  LOCKED until {u.locked_until:%H:%M} UTC" if u.locked(now) else ""
        last = f"{u.last_sign_in_utc:%Y-%m-%d %H:%M}" if u.last_sign_in_utc else "never"
        print(f"{u.name:20s} {u.role:9s} last sign-in {last}{locked}")
    for t in tokens:
        state = "active" if t.active else f"revoked {t.revoked_utc:%Y-%m-%d}"
        used = f"{t.last_used_utc:%Y-%m-%d %H:%M}" if t.last_used_utc else "never"
        print(f"  token {t.id:<4d} {t.user_name:20s} {t.label!r:24s} {state}, last used {used}")
    return EXIT_OK
