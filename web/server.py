"""Running the clinic server: HTTPS on the clinic network, plain HTTP on this machine only.

The HTTP server is cheroot (CherryPy's production WSGI server, pure Python): a thread pool, and
TLS through Python's own ``ssl`` module (waitress has no TLS). The certificate is the clinic's
(``--tls-cert``/``--tls-key`` or ``$STATION_TLS_CERT``/``$STATION_TLS_KEY``) or the self-signed
one that ``station serve --init`` makes in ``<data_dir>/tls/`` (see :mod:`web.tls`). On a network
address the server speaks HTTPS only; without a certificate it refuses to start there, since
passwords and patient data would cross the clinic network unencrypted. On a loopback address it
speaks plain HTTP, unless the clinic's certificate is given or ``--tls`` asks for HTTPS.

On the network the server announces itself by mDNS (:mod:`web.mdns`) unless ``--no-mdns``.
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from station import __version__
from station.errors import ConfigError, StationError
from web.accounts import Accounts
from web.settings import ensure_secret_key, is_loopback
from web.tls import (
    EXPIRY_WARNING_DAYS,
    CertificateInfo,
    TlsError,
    default_paths,
    ensure_self_signed,
    load_certificate,
    local_addresses,
    local_hostname,
    server_context,
)

DEFAULT_HOST: Final = "127.0.0.1"
#: Plain HTTP (loopback only) and HTTPS default ports.
DEFAULT_PORT: Final = 8080
DEFAULT_TLS_PORT: Final = 8443
DEFAULT_THREADS: Final = 4
#: Connections waiting to be accepted (cheroot's default is 5: a burst of 20 browsers would have
#: some of them retry their connection after a second).
LISTEN_BACKLOG: Final = 64
#: Strict-Transport-Security max-age: one year (OWASP HTTP Strict Transport Security cheat sheet).
HSTS_MAX_AGE_S: Final = 31_536_000
#: Environment variables naming the clinic's certificate and key (for a systemd unit).
ENV_TLS_CERT: Final = "STATION_TLS_CERT"
ENV_TLS_KEY: Final = "STATION_TLS_KEY"
SERVER_NAME: Final = "dexterity-station"

log = logging.getLogger(__name__)


class ServeRefusedError(ConfigError):
    """The server will not run as asked (the message says why and what to do instead)."""


def _is_wildcard(host: str) -> bool:
    return host.strip().strip("[]") in ("0.0.0.0", "::", "")


def check_host(host: str, port: int, *, tls: bool = False) -> None:
    if not 0 <= port <= 65535:
        raise ServeRefusedError(f"port {port} is not a TCP port (0-65535)")
    if not tls and not is_loopback(host):
        raise ServeRefusedError(
            f"refusing to serve on {host} over plain HTTP: passwords and patient data would "
            "cross the network unencrypted. HTTPS needs a certificate: make the station's own "
            "once with `station serve --init` (self-signed), or give the clinic's with "
            "--tls-cert FILE --tls-key FILE. Or serve on 127.0.0.1 (the default) and open "
            f"http://127.0.0.1:{port}/ on this machine"
        )


def url_of(host: str, port: int, *, tls: bool = False) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}/"


def init(data_dir: Path, *, renew_cert: bool = False) -> list[str]:
    """Make the secret key, the accounts database and the self-signed certificate if absent.

    Returns what was done, for the terminal. ``renew_cert`` replaces the certificate.
    """
    path, created = ensure_secret_key(data_dir)
    lines = [
        f"{'created' if created else 'kept'} the secret key {path} (readable by its owner only)"
    ]
    with Accounts.open(data_dir) as accounts:
        users = accounts.count_users()
        lines.append(f"accounts database {accounts.path}: {users} user(s)")
    info, done = ensure_self_signed(data_dir, renew=renew_cert)
    lines.append(
        f"{done} the TLS certificate {info.cert_path} (key {info.key_path}, readable by its "
        f"owner only), valid until {info.not_after_utc:%Y-%m-%d}, for "
        + ", ".join([*info.dns_names, *info.ip_addresses])
    )
    lines.append(f"  SHA-256 fingerprint: {info.fingerprint_sha256}")
    if done == "kept":
        lines.append("  (`station serve --init --renew-cert` replaces it)")
    if os.environ.get(ENV_TLS_CERT):
        lines.append(f"note: ${ENV_TLS_CERT} is set: the server uses that certificate instead")
    if users == 0:
        lines.append("next: create the first account: station user add NAME --role admin")
    return lines


def choose_certificate(
    data_dir: Path,
    cert: Path | None = None,
    key: Path | None = None,
    *,
    host: str = DEFAULT_HOST,
    tls: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> CertificateInfo | None:
    """The certificate to serve with, checked; None for plain HTTP.

    The clinic's certificate when given (``cert``/``key``, else ``$STATION_TLS_CERT`` and
    ``$STATION_TLS_KEY``) serves on any address. Otherwise, on a network address, the one in
    ``<data_dir>/tls/`` (if absent: None, and :func:`check_host` refuses plain HTTP there); on
    a loopback address plain HTTP, unless ``tls`` is True (``--tls``: that one on loopback too).
    ``tls`` False (``--no-tls``) asks for plain HTTP.
    """
    env = os.environ if env is None else env
    if tls is False:
        if cert is not None or key is not None:
            raise ServeRefusedError("--no-tls cannot go with --tls-cert/--tls-key")
        return None
    where = "--tls-cert and --tls-key"
    if cert is None and key is None and (env.get(ENV_TLS_CERT) or env.get(ENV_TLS_KEY)):
        cert = Path(env[ENV_TLS_CERT]) if env.get(ENV_TLS_CERT) else None
        key = Path(env[ENV_TLS_KEY]) if env.get(ENV_TLS_KEY) else None
        where = f"${ENV_TLS_CERT} and ${ENV_TLS_KEY}"
    if cert is not None or key is not None:
        if cert is None or key is None:
            raise ServeRefusedError(f"give both {where}: the certificate and its key")
        return load_certificate(cert.expanduser(), key.expanduser())
    if tls is None and is_loopback(host):
        return None
    default_cert, default_key = default_paths(data_dir)
    present = [p for p in (default_cert, default_key) if p.exists()]
    if not present:
        if tls:
            raise TlsError(
                f"--tls: no certificate in {default_cert.parent}; make the station's own with "
                "`station serve --init`, or give the clinic's with --tls-cert FILE --tls-key FILE"
            )
        return None
    if len(present) == 1:
        missing = default_key if present[0] == default_cert else default_cert
        raise TlsError(
            f"{present[0]} exists but {missing} does not; make a new pair with "
            "`station serve --init --renew-cert` (or copy the clinic's certificate and key there)"
        )
    return load_certificate(default_cert, default_key)


class _Hsts:
    """WSGI middleware: ``Strict-Transport-Security`` on HTTPS answers to a host name.

    Not for ``localhost`` (it would force HTTPS on every local development server of that
    browser) nor IP addresses (browsers ignore it there, RFC 6797 section 8.1).
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("wsgi.url_scheme") != "https" or not _named_host(environ):
            return self.app(environ, start_response)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append(("Strict-Transport-Security", f"max-age={HSTS_MAX_AGE_S}"))
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def _named_host(environ: Mapping[str, Any]) -> bool:
    try:
        host = urlsplit("//" + str(environ.get("HTTP_HOST") or "")).hostname or ""
    except ValueError:
        return False
    if not host or host == "localhost":
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def _server_class() -> type:
    from cheroot import wsgi

    class Server(wsgi.Server):  # type: ignore[misc]
        """cheroot's server, logging through :mod:`logging` instead of writing to stderr."""

        _made: Any = None
        #: a listening socket made by the parent of a multi-process server (see
        #: :func:`listen_socket`): used instead of binding a new one
        listen_socket: Any = None

        def error_log(
            self, msg: str = "", level: int = logging.INFO, traceback: bool = False
        ) -> None:
            log.log(level, "%s", msg, exc_info=traceback)

        def prepare_socket(self, *args: Any, **kwargs: Any) -> Any:
            self._made = super().prepare_socket(*args, **kwargs)
            return self._made

        def bind(self, *args: Any, **kwargs: Any) -> Any:
            """As cheroot's, closing the new socket when it cannot be bound (cheroot leaks it);
            the given :attr:`listen_socket` when there is one."""
            if self.listen_socket is not None:
                self.socket = self.listen_socket
                self.bind_addr = self.resolve_real_bind_addr(self.socket)
                return self.socket
            try:
                return super().bind(*args, **kwargs)
            except OSError:
                if self._made is not None and self._made is not self.socket:
                    self._made.close()
                raise

    return Server


#: How long a new connection may take over its TLS handshake. cheroot shakes hands on the
#: thread that accepts connections and serves the keep-alive ones, so a client that connects
#: and says nothing stalls that process's other clients until then (cheroot's own bound is its
#: 10 s socket timeout). A browser on the clinic network needs milliseconds.
TLS_HANDSHAKE_TIMEOUT_S: Final = 3.0


def _adapter_class() -> type:
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    class Adapter(BuiltinSSLAdapter):  # type: ignore[misc]
        """cheroot's TLS adapter with a short handshake timeout (cheroot sets its own timeout
        on the socket again once the handshake is done)."""

        def wrap(self, sock: socket.socket) -> Any:
            sock.settimeout(TLS_HANDSHAKE_TIMEOUT_S)
            return super().wrap(sock)

    return Adapter


def make_server(
    data_dir: Path,
    host: str,
    port: int,
    *,
    threads: int = DEFAULT_THREADS,
    tls: CertificateInfo | None = None,
    listen_socket: socket.socket | None = None,
) -> tuple[Any, Any]:
    """(cheroot server, Flask app), the server bound to ``host:port`` (0: any free port).

    ``tls``: serve HTTPS with this certificate; None: plain HTTP, loopback only.
    ``listen_socket``: accept on this socket (already bound to ``host:port``, shared with the
    other processes of a multi-process server) instead of binding a new one.
    """
    from web import close_app, create_app

    check_host(host, port, tls=tls is not None)
    app = create_app(
        {
            "DATA_DIR": str(data_dir),
            "SERVER_HOST": host,
            "SERVER_TLS": bool(tls),
            "STORE_READERS": threads,
        }
    )
    wsgi_app: Any = app if tls is None else _Hsts(app)
    server = _server_class()(
        (host.strip("[]"), port),
        wsgi_app,
        numthreads=threads,
        max=threads,
        server_name=SERVER_NAME,
        request_queue_size=LISTEN_BACKLOG,
    )
    server.listen_socket = listen_socket
    try:
        if tls is not None:
            adapter = _adapter_class()(str(tls.cert_path), str(tls.key_path))
            adapter.context = server_context(tls.cert_path, tls.key_path)
            server.ssl_adapter = adapter
        server.prepare()
        if listen_socket is not None:
            # several processes wait on this socket and all wake for each new connection: the
            # ones that lose the race must find it empty at once, not block in accept() for
            # cheroot's 1 s timeout (its keep-alive connections wait in the same loop)
            server.socket.settimeout(0)
    except OSError as exc:
        server.stop()
        close_app(app)
        raise StationError(
            f"cannot listen on {url_of(host, port, tls=tls is not None)} "
            f"({exc.strerror or exc}); is another server running there? Choose another port "
            "with --port"
        ) from None
    except BaseException:
        server.stop()
        close_app(app)
        raise
    return server, app


def settle_memory() -> None:
    """Before serving: move everything made so far (modules, the app, its caches) out of the
    garbage collector's sight (:func:`gc.freeze`). A full collection otherwise walks them all,
    holding every thread of the process for tens of milliseconds each time (measured: 80 ms
    per full collection before, 25 ms after, on the benchmark's data). Only in a server's own
    process (its main thread), not when a program runs the server in a thread of its own."""
    if threading.current_thread() is not threading.main_thread():
        return
    gc.collect()
    gc.freeze()


def bound_port(server: Any) -> int:
    """The port the server listens on."""
    return int(server.bind_addr[1])


def stop(server: Any) -> None:
    """Stop a server running in another thread: it closes its socket and its threads end."""
    server.stop()


def _stop_on_sigterm() -> None:
    """Let SIGTERM and SIGHUP (which ``station watchdog`` passes on) stop the server like
    Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


@dataclass(frozen=True)
class MdnsPlan:
    """What to announce, and on which interfaces (see :func:`plan_announcement`)."""

    info: Any  # zeroconf.ServiceInfo
    interfaces: Any  # zeroconf.InterfaceChoice or a list of addresses
    ip_version: Any  # zeroconf.IPVersion or None


def _same_family(host: str, addresses: Iterable[Any]) -> list[str]:
    want_v6 = host.strip("[]") == "::"
    return [str(a) for a in addresses if a.version == 4 or want_v6]


def plan_announcement(
    host: str,
    port: int,
    *,
    station_id: str,
    hostname: str,
    instance: str | None = None,
    interfaces: Sequence[str] | None = None,
    avahi: bool | None = None,
    addresses: Sequence[Any] | None = None,
) -> MdnsPlan | None:
    """The mDNS announcement of a server on ``host:port``; None on a loopback address.

    ``interfaces`` (addresses) announces there only, loopback ones included (for tests).
    ``avahi``: whether avahi-daemon answers for ``<hostname>.local`` (None: look).
    """
    import zeroconf

    from web import mdns

    if interfaces is None and is_loopback(host):
        return None
    bare = host.strip().strip("[]")
    if interfaces is not None:
        on: Any = list(interfaces)
        announced = list(interfaces)
        ip_version = None
    elif _is_wildcard(bare):
        on = zeroconf.InterfaceChoice.All
        found = local_addresses() if addresses is None else list(addresses)
        announced = _same_family(bare, found)
        ip_version = zeroconf.IPVersion.All if bare == "::" else zeroconf.IPVersion.V4Only
    else:
        try:
            ipaddress.ip_address(bare)
        except ValueError:  # a host name: announce everywhere, its addresses come from DNS
            on, announced, ip_version = zeroconf.InterfaceChoice.All, [], None
        else:
            on, announced, ip_version = [bare], [bare], None
    if avahi is None:
        avahi = mdns.avahi_running()
    info = mdns.build_service_info(
        instance=instance or mdns.instance_name(station_id, hostname),
        port=port,
        hostname=hostname,
        addresses=[] if avahi else announced,
        station_id=station_id,
        version=__version__,
    )
    return MdnsPlan(info, on, ip_version)


def _urls(host: str, port: int, tls: CertificateInfo | None, hostname: str) -> list[str]:
    """Where clinicians can reach the server, the most useful first."""
    if tls is None or not _is_wildcard(host):
        return [url_of(host, port, tls=tls is not None)]
    found = _same_family(host, local_addresses())
    return [url_of(f"{hostname}.local", port, tls=True)] + [
        url_of(a, port, tls=True) for a in found
    ]


def _certificate_lines(tls: CertificateInfo, now: datetime) -> list[str]:
    kind = "self-signed" if tls.self_signed else f"issued to {tls.subject}"
    lines = [
        f"certificate: {tls.cert_path} ({kind}, valid until {tls.not_after_utc:%Y-%m-%d})",
        f"  SHA-256 fingerprint: {tls.fingerprint_sha256}",
    ]
    if tls.self_signed:
        lines.append(
            "  browsers warn about a self-signed certificate the first time: check that the "
            "fingerprint they show is this one before accepting it"
        )
    days = tls.days_left(now)
    if days < EXPIRY_WARNING_DAYS:
        lines.append(
            f"warning: the certificate expires in {days:.0f} days "
            f"({tls.not_after_utc:%Y-%m-%d}); renew it (`station serve --init --renew-cert` "
            "for the self-signed one)"
        )
    return lines


def _sign_in_line(url: str, users: int) -> str:
    if users == 0:
        return (
            "no accounts yet: create one with `station user add NAME --role admin`, "
            f"then sign in at {url}auth/sign-in"
        )
    return (
        f"sign in at {url}auth/sign-in with an account from `station user list` "
        "(new clinicians: `station user add NAME --role clinician`); programs use "
        "`station user token NAME --label L` and 'Authorization: Bearer <token>'"
    )


def run(
    data_dir: Path,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    *,
    threads: int = DEFAULT_THREADS,
    workers: int = 1,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    tls: bool | None = None,
    mdns: bool = True,
    mdns_name: str | None = None,
    mdns_interfaces: Sequence[str] | None = None,
    station_id: str = "station",
    say: Callable[[str], None] = print,
) -> int:
    """Serve until interrupted (Ctrl-C or SIGTERM) or :func:`stop` from another thread.

    ``tls``: None chooses (HTTPS on the network, plain HTTP on loopback unless a certificate
    is given), True: HTTPS on loopback too, False: plain HTTP (loopback only); see
    :func:`choose_certificate`. ``port`` None: 8443 for HTTPS, 8080 for plain HTTP.
    ``workers`` above 1: that many server processes of ``threads`` threads each, sharing the
    socket (:mod:`web.workers`).
    """
    from web import close_app
    from web.state import state

    cert = choose_certificate(data_dir, tls_cert, tls_key, host=host, tls=tls)
    if port is None:
        port = DEFAULT_TLS_PORT if cert is not None else DEFAULT_PORT
    how = _Announce(data_dir, host, cert, mdns, mdns_name, mdns_interfaces, station_id, say)
    if workers > 1:
        return _run_workers(how, port, threads=threads, workers=workers)
    server, app = make_server(data_dir, host, port, threads=threads, tls=cert)
    try:
        with app.app_context():
            users = state().accounts.count_users()
        _serve_announced(server.serve, bound_port(server), users, how)
    finally:
        server.stop()
        close_app(app)
    return 0


@dataclass(frozen=True)
class _Announce:
    """Where and how a running server is announced (the arguments of :func:`run`)."""

    data_dir: Path
    host: str
    cert: CertificateInfo | None
    mdns: bool
    mdns_name: str | None
    mdns_interfaces: Sequence[str] | None
    station_id: str
    say: Callable[[str], None]


def _run_workers(how: _Announce, port: int, *, threads: int, workers: int) -> int:
    from web import close_app, create_app
    from web import workers as workers_module
    from web.state import state

    data_dir, host, cert, say = how.data_dir, how.host, how.cert, how.say
    check_host(host, port, tls=cert is not None)
    # the checks each worker would make, once and here, where they reach the terminal: the
    # secret key, the databases (their migrations run now, not in N processes at once)
    app = create_app({"DATA_DIR": str(data_dir), "SERVER_HOST": host, "SERVER_TLS": bool(cert)})
    try:
        with app.app_context():
            users = state().accounts.count_users()
    finally:
        close_app(app)
    sock = workers_module.listen_socket(host, port)
    port = int(sock.getsockname()[1])

    def command(fd: int) -> list[str]:
        return workers_module.worker_command(
            fd,
            data_dir,
            host,
            port,
            threads,
            cert.cert_path if cert is not None else None,
            cert.key_path if cert is not None else None,
        )

    pool = workers_module.WorkerPool(sock, workers, command, say=say)
    _stop_on_sigterm()  # before the workers start: a stop now must stop them too
    try:
        pool.start()
        say(
            f"{workers} server processes of {threads} threads each (pids "
            + ", ".join(str(p) for p in pool.pids())
            + ")"
        )
        _serve_announced(pool.serve, port, users, how)
    finally:
        pool.stop()
    return 0


def _serve_announced(serve: Callable[[], Any], port: int, users: int, how: _Announce) -> None:
    """Say where the server is, announce it by mDNS, and ``serve()`` until interrupted."""
    from web import mdns as mdns_module

    data_dir, host, cert, mdns, say = how.data_dir, how.host, how.cert, how.mdns, how.say
    mdns_name, mdns_interfaces, station_id = how.mdns_name, how.mdns_interfaces, how.station_id

    announcement = None
    try:
        hostname = local_hostname()
        urls = _urls(host, port, cert, hostname)
        if cert is None:
            say(f"clinic server: {urls[0]} (plain HTTP on this machine only; data in {data_dir})")
        else:
            where = "this machine only" if is_loopback(host) else "the network"
            say(f"clinic server: {urls[0]} (HTTPS on {where}; data in {data_dir})")
        for url in urls[1:]:
            say(f"  also at {url}")
        if cert is not None:
            for url in urls:
                named = urlsplit(url).hostname or ""
                if not cert.covers(named):
                    say(
                        f"  note: the certificate does not name {named}: browsers refuse "
                        f"{url} (renew the self-signed one with `station serve --init "
                        "--renew-cert` after a change of address or host name)"
                    )
        say(_sign_in_line(urls[0], users))
        if cert is not None:
            for line in _certificate_lines(cert, datetime.now(UTC)):
                say(line)
        plan = None
        if mdns:
            try:
                plan = plan_announcement(
                    host,
                    port,
                    station_id=station_id,
                    hostname=hostname,
                    instance=mdns_name,
                    interfaces=mdns_interfaces,
                )
                if plan is not None:
                    announcement = mdns_module.announce(
                        plan.info, interfaces=plan.interfaces, ip_version=plan.ip_version
                    )
            except mdns_module.MdnsError as exc:
                say(f"warning: not announced on the network by mDNS: {exc}; serving anyway")
            else:
                if announcement is not None:
                    say(
                        f'announced on the network as "{announcement.name}" '
                        f"(mDNS {announcement.info.type.removesuffix('.local.')}); "
                        "--no-mdns turns this off"
                    )
        elif not is_loopback(host):
            say("not announced on the network (--no-mdns)")
        _stop_on_sigterm()
        settle_memory()
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C, SIGTERM, from here on
            say("Ctrl-C stops")
            serve()  # also returns after stop() from another thread
        say("clinic server stopped")
    finally:
        if announcement is not None:
            announcement.close()
