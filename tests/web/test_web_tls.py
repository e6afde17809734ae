"""HTTPS: the self-signed certificate, checking a clinic's certificate, the real TLS server."""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import socket
import ssl
import stat
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from station import cli
from tests.web.conftest import Filled, bearer, make_app
from tests.web.test_web_cli import run_web_cli
from web import close_app, server, tls
from web.state import state

HOSTNAME = "station-7"
LAN = [ipaddress.ip_address("192.0.2.10"), ipaddress.ip_address("fd00::10")]
#: Upper bound for the in-process server to start, answer or stop on a loaded CI machine (a
#: failure bound, not an expected duration).
SERVER_DEADLINE_S = 60.0


@pytest.fixture(autouse=True)
def _this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed host name and LAN addresses; no certificate named by the environment."""
    monkeypatch.setattr(tls, "local_hostname", lambda: HOSTNAME)
    monkeypatch.setattr(tls, "local_addresses", lambda: list(LAN))
    monkeypatch.setattr(server, "local_hostname", lambda: HOSTNAME)
    monkeypatch.setattr(server, "local_addresses", lambda: list(LAN))
    monkeypatch.delenv(server.ENV_TLS_CERT, raising=False)
    monkeypatch.delenv(server.ENV_TLS_KEY, raising=False)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    def run(*argv: str) -> tuple[int, str, str]:
        return run_web_cli(list(argv), capsys, monkeypatch)

    return run


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_pair(
    folder: Path, *, now: datetime | None = None, days: int = 825, name: str = "pair"
) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cert_pem, key_pem = tls.generate_self_signed(HOSTNAME, [], now=now, validity_days=days)
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    key.chmod(0o600)
    return cert, key


# --- the self-signed certificate ---------------------------------------------------------------


def test_init_makes_a_self_signed_certificate_once(run: Any, data_dir: Path) -> None:
    code, out, err = run("serve", "--init")
    assert code == 0, err
    cert_path, key_path = tls.default_paths(data_dir)
    assert _mode(cert_path.parent) == 0o700
    assert _mode(key_path) == 0o600
    assert "created the TLS certificate" in out

    cert = _cert(cert_path)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [HOSTNAME, f"{HOSTNAME}.local", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
        *LAN,
    ]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == HOSTNAME
    assert cert.issuer == cert.subject
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == timedelta(days=tls.SELF_SIGNED_VALIDITY_DAYS) + tls.BACKDATE
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"

    fingerprint = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert f"SHA-256 fingerprint: {fingerprint}" in out
    assert len(fingerprint) == 32 * 3 - 1

    before = (cert_path.read_bytes(), key_path.read_bytes())
    code, out, _ = run("serve", "--init")
    assert code == 0 and "kept the TLS certificate" in out and fingerprint in out
    assert (cert_path.read_bytes(), key_path.read_bytes()) == before

    code, out, _ = run("serve", "--init", "--renew-cert")
    assert code == 0 and "renewed the TLS certificate" in out
    renewed = _cert(cert_path).fingerprint(hashes.SHA256()).hex(":").upper()
    assert renewed != fingerprint and renewed in out
    assert key_path.read_bytes() != before[1]
    assert _mode(key_path) == 0o600 and _mode(cert_path.parent) == 0o700
    assert sorted(p.name for p in cert_path.parent.iterdir()) == ["cert.pem", "key.pem"]

    code, _, err = run("serve", "--renew-cert")
    assert code == 2 and "--init" in err


def test_init_refuses_to_keep_a_broken_pair(run: Any, data_dir: Path) -> None:
    assert run("serve", "--init")[0] == 0
    cert_path, key_path = tls.default_paths(data_dir)
    key_path.unlink()
    code, _, err = run("serve", "--init")
    assert code == 2 and "key.pem does not" in err and "--renew-cert" in err
    code, _, err = run("serve", "--tls")
    assert code == 2 and "key.pem does not" in err
    assert run("serve", "--init", "--renew-cert")[0] == 0

    other_cert, _ = write_pair(data_dir / "other")
    cert_path.write_bytes(other_cert.read_bytes())
    code, _, err = run("serve", "--init")
    assert code == 2 and "does not belong to the certificate" in err and "--renew-cert" in err
    assert "Traceback" not in err


def test_init_tightens_a_loose_tls_folder(run: Any, data_dir: Path) -> None:
    folder = tls.tls_dir(data_dir)
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    assert run("serve", "--init")[0] == 0
    assert _mode(folder) == 0o700


def test_covers_names_wildcards_and_addresses(data_dir: Path) -> None:
    info, _ = tls.ensure_self_signed(data_dir)
    for host in (HOSTNAME, f"{HOSTNAME}.local", "LOCALHOST", "127.0.0.1", "[::1]", "192.0.2.10"):
        assert info.covers(host), host
    for host in ("other.local", "192.0.2.11", "", "station-7.local.evil"):
        assert not info.covers(host), host
    wild = tls.CertificateInfo(
        info.cert_path, info.key_path, "", "", ("*.clinic.example",), (), info.not_before_utc,
        info.not_after_utc, False,
    )  # fmt: skip
    assert wild.covers("station.clinic.example")
    assert not wild.covers("clinic.example") and not wild.covers("a.b.clinic.example")


# --- checking a certificate ------------------------------------------------------------------


def _encrypted_key(folder: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path = folder / "encrypted.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    path.chmod(0o600)
    return path


def _problem(folder: Path, case: str) -> tuple[Path, Path, str]:
    """(certificate, key, what the message must say) for one kind of unusable pair."""
    cert, key = write_pair(folder)
    now = datetime.now(UTC)
    if case == "missing certificate":
        return folder / "nope.crt", key, "nope.crt does not exist"
    if case == "missing key":
        return cert, folder / "nope.key", "nope.key does not exist"
    if case == "certificate is a folder":
        return folder, key, "is a folder"
    if case == "unreadable key":  # a path through a file: the OS refuses it (even to root)
        return cert, cert / "key.pem", "cannot read the TLS key"
    if case == "not PEM":
        cert.write_bytes(b"\x30\x82 not a certificate")
        return cert, key, "is not a PEM certificate"
    if case == "key not PEM":
        key.write_text("hello\n")
        return cert, key, "is not a PEM private key"
    if case == "key with a passphrase":
        return cert, _encrypted_key(folder), "protected by a passphrase"
    if case == "key for another certificate":
        _, other_key = write_pair(folder, name="other")
        return cert, other_key, "does not belong to the certificate"
    if case == "key readable by everyone":
        key.chmod(0o644)
        return cert, key, "can be read by every user (mode 0644)"
    if case == "expired":
        cert, key = write_pair(folder, now=now - timedelta(days=100), days=30, name="old")
        return cert, key, "expired on"
    if case == "not yet valid":
        cert, key = write_pair(folder, now=now + timedelta(days=3), name="future")
        return cert, key, "is this machine's clock right"
    raise AssertionError(case)


PROBLEMS = [
    "missing certificate",
    "missing key",
    "certificate is a folder",
    "unreadable key",
    "not PEM",
    "key not PEM",
    "key with a passphrase",
    "key for another certificate",
    "key readable by everyone",
    "expired",
    "not yet valid",
]


@pytest.mark.parametrize("case", PROBLEMS)
def test_an_unusable_certificate_is_refused_clearly(
    case: str, tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, key, expected = _problem(tmp_path / "clinic", case)
    code = cli.main(["serve", "--tls-cert", str(cert), "--tls-key", str(key), "--no-mdns"])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("station: error: ") and expected in err, err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (data_dir / "web.sqlite").exists()  # refused before anything else


def test_a_clinic_certificate_with_its_chain(tmp_path: Path) -> None:
    """A certificate issued by the clinic's CA, the file holding the chain (leaf first)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Clinic CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "station.clinic")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=10))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("station.clinic.example")]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "chain.pem", tmp_path / "station.key"
    pem = serialization.Encoding.PEM
    cert_path.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(
            pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o640)  # group-readable (e.g. Debian's ssl-cert group) is accepted

    info = tls.load_certificate(cert_path, key_path)
    assert not info.self_signed and "station.clinic" in info.subject
    assert info.dns_names == ("station.clinic.example",)
    assert info.fingerprint_sha256 == leaf.fingerprint(hashes.SHA256()).hex(":").upper()
    lines = server._certificate_lines(info, now)
    assert "issued to" in lines[0] and info.fingerprint_sha256 in lines[1]
    assert any(line.startswith("warning: the certificate expires in 10 days") for line in lines)


def test_choosing_the_certificate(tmp_path: Path, data_dir: Path) -> None:
    assert server.choose_certificate(data_dir) is None  # nothing: plain HTTP
    assert server.choose_certificate(data_dir, host="0.0.0.0") is None  # check_host refuses
    with pytest.raises(tls.TlsError, match=r"--tls: no certificate in .*station serve --init"):
        server.choose_certificate(data_dir, tls=True)
    own, _ = tls.ensure_self_signed(data_dir)
    assert server.choose_certificate(data_dir) is None  # loopback: plain HTTP unless asked
    assert server.choose_certificate(data_dir, tls=True) == own
    for host in ("0.0.0.0", "::", "192.0.2.10", "station-7.local"):  # the network: HTTPS
        assert server.choose_certificate(data_dir, host=host) == own
    assert server.choose_certificate(data_dir, host="0.0.0.0", tls=False) is None

    cert, key = write_pair(tmp_path / "clinic")
    assert server.choose_certificate(data_dir, cert, key).cert_path == cert  # type: ignore[union-attr]
    env = {server.ENV_TLS_CERT: str(cert), server.ENV_TLS_KEY: str(key)}
    assert server.choose_certificate(data_dir, env=env).cert_path == cert  # type: ignore[union-attr]
    with pytest.raises(server.ServeRefusedError, match=r"\$STATION_TLS_CERT and \$STATION_TLS_KEY"):
        server.choose_certificate(data_dir, env={server.ENV_TLS_CERT: str(cert)})
    with pytest.raises(server.ServeRefusedError, match="give both --tls-cert and --tls-key"):
        server.choose_certificate(data_dir, cert, None)
    with pytest.raises(server.ServeRefusedError, match="--no-tls cannot go with"):
        server.choose_certificate(data_dir, cert, key, tls=False)


# --- plain HTTP only on loopback ---------------------------------------------------------------


def test_plain_http_only_on_loopback(run: Any, data_dir: Path) -> None:
    assert run("serve", "--init")[0] == 0
    for host in ("0.0.0.0", "192.0.2.10", "::"):
        code, _, err = run("serve", "--host", host, "--no-tls")
        assert code == 2, host
        assert f"refusing to serve on {host} over plain HTTP" in err
        assert "station serve --init" in err and "--tls-cert" in err
    server.check_host("0.0.0.0", 8443, tls=True)  # with a certificate the network is allowed
    server.check_host("127.0.0.1", 8080, tls=False)
    with pytest.raises(server.ServeRefusedError, match="not a TCP port"):
        server.check_host("127.0.0.1", 70000, tls=True)


def test_cookies_are_secure_exactly_over_https(data_dir: Path) -> None:
    for overrides, secure in (
        ({"SERVER_TLS": True, "SERVER_HOST": "127.0.0.1"}, True),
        ({"SERVER_TLS": True, "SERVER_HOST": "0.0.0.0"}, True),
        ({"SERVER_TLS": False, "SERVER_HOST": "127.0.0.1"}, False),
        ({"SERVER_TLS": None, "SERVER_HOST": "127.0.0.1"}, False),
        ({"SERVER_TLS": True, "SECURE_COOKIES": False}, False),
    ):
        app = make_app(data_dir, **overrides)
        try:
            assert app.config["SESSION_COOKIE_SECURE"] is secure, overrides
        finally:
            close_app(app)


def test_hsts_only_over_https_to_a_host_name() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    wrapped = server._Hsts(app)

    def headers(scheme: str, host: str | None) -> dict[str, str]:
        got: dict[str, str] = {}

        def start_response(status: str, hs: list[tuple[str, str]], exc_info: Any = None) -> Any:
            got.update(hs)

        environ = {"wsgi.url_scheme": scheme}
        if host is not None:
            environ["HTTP_HOST"] = host
        assert wrapped(environ, start_response) == [b"ok"]
        return got

    hsts = "Strict-Transport-Security"
    assert headers("https", "station-7.local:8443")[hsts] == f"max-age={server.HSTS_MAX_AGE_S}"
    assert headers("https", "Station.Clinic.Example")[hsts].startswith("max-age=")
    for host in ("127.0.0.1:8443", "[::1]:8443", "192.0.2.10", "localhost:8443", "", None, "[x"):
        assert hsts not in headers("https", host), host
    assert hsts not in headers("http", "station-7.local")


# --- the real server -------------------------------------------------------------------------


class Served:
    def __init__(self, said: list[str], made: list[Any], thread: threading.Thread) -> None:
        self.said, self.made, self.thread = said, made, thread

    @property
    def port(self) -> int:
        return server.bound_port(self.made[0][0])


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start ``server.run`` in a thread; waits until it is ready; stops it at the end."""
    started: list[Served] = []
    made: list[Any] = []
    real_make = server.make_server

    def make(*args: Any, **kwargs: Any) -> Any:
        made.append(real_make(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(server, "make_server", make)

    def start(*args: Any, **kwargs: Any) -> Served:
        said: list[str] = []
        ready = threading.Event()

        def say(line: str) -> None:
            said.append(line)
            if line == "Ctrl-C stops":
                ready.set()

        def target() -> None:
            try:
                server.run(*args, say=say, **kwargs)
            finally:
                ready.set()

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        served = Served(said, made, thread)
        started.append(served)
        assert ready.wait(SERVER_DEADLINE_S) and said[-1] == "Ctrl-C stops", said
        return served

    yield start
    for served in started:
        if served.made:
            server.stop(served.made[0][0])
        served.thread.join(SERVER_DEADLINE_S)
        assert not served.thread.is_alive()
        assert served.said[-1] == "clinic server stopped"


def _https(
    url: str, context: ssl.SSLContext, headers: dict[str, str] | None = None
) -> tuple[int, Any, bytes]:
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect)
    try:
        with opener.open(
            urllib.request.Request(url, headers=headers or {}), timeout=SERVER_DEADLINE_S
        ) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, exc.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_the_real_https_server_on_loopback(data_dir: Path, filled: Filled, serve: Any) -> None:
    app = make_app(data_dir)
    with app.app_context():
        state().accounts.add_user("alice", "clinician", "alice-password-1")
        _, token = state().accounts.create_token("alice", "https")
    close_app(app)
    info, _ = tls.ensure_self_signed(data_dir)

    served = serve(data_dir, "127.0.0.1", 0, tls=True)
    port = served.port
    base = f"https://127.0.0.1:{port}"
    said = served.said
    assert said[0] == f"clinic server: {base}/ (HTTPS on this machine only; data in {data_dir})"
    assert said[1].startswith(f"sign in at {base}/auth/sign-in")
    assert "station user add NAME --role clinician" in said[1]
    assert f"certificate: {info.cert_path} (self-signed" in said[2]
    assert said[3] == f"  SHA-256 fingerprint: {info.fingerprint_sha256}"
    assert not any("announced" in line for line in said)  # loopback: nothing to announce

    trusting = ssl.create_default_context(cafile=str(info.cert_path))
    status, headers, body = _https(f"{base}/api/v1/participants", trusting, bearer(token))
    assert status == 200 and json.loads(body)["total"] == 3
    assert headers["Server"] == server.SERVER_NAME
    assert "Strict-Transport-Security" not in headers  # an IP address: browsers ignore it

    status, headers, body = _https(f"{base}/auth/sign-in", trusting)
    assert status == 200 and b"csrf_token" in body
    cookie = headers["Set-Cookie"]
    assert "station_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie

    status, headers, _ = _https(f"{base}/", trusting, {"Host": f"{HOSTNAME}.local:{port}"})
    assert status == 302 and headers["Location"].startswith("/auth/sign-in")
    assert headers["Strict-Transport-Security"] == f"max-age={server.HSTS_MAX_AGE_S}"

    # it is really TLS with this certificate: not trusted by default, no plain HTTP
    with pytest.raises(urllib.error.URLError) as untrusted:
        _https(f"{base}/auth/sign-in", ssl.create_default_context())
    assert isinstance(untrusted.value.reason, ssl.SSLCertVerificationError)
    plain = http.client.HTTPConnection("127.0.0.1", port, timeout=SERVER_DEADLINE_S)
    try:
        plain.request("GET", "/auth/sign-in")
        answer = plain.getresponse()
        assert answer.status == 400 and b"only speaks HTTPS" in answer.read()
    except (ConnectionError, http.client.RemoteDisconnected):
        pass  # or the connection is dropped: either way nothing is served in the clear
    finally:
        plain.close()


def test_https_with_the_clinic_certificate_given(
    data_dir: Path, tmp_path: Path, serve: Any
) -> None:
    close_app(make_app(data_dir))  # the secret key and the databases
    cert, key = write_pair(tmp_path / "clinic")
    served = serve(data_dir, "localhost", 0, tls_cert=cert, tls_key=key)
    assert served.said[0].startswith(f"clinic server: https://localhost:{served.port}/ (HTTPS")
    assert served.said[1].startswith("no accounts yet")
    context = ssl.create_default_context(cafile=str(cert))
    status, _, body = _https(f"https://localhost:{served.port}/auth/sign-in", context)
    assert status == 200 and b"csrf_token" in body


def test_plain_http_on_loopback_by_default(data_dir: Path, serve: Any) -> None:
    close_app(make_app(data_dir))
    tls.ensure_self_signed(data_dir)  # there, but not used on loopback without --tls
    served = serve(data_dir, "127.0.0.1", 0)
    assert re.match(r"clinic server: http://127\.0\.0\.1:\d+/ \(plain HTTP", served.said[0])
    request = urllib.request.Request(f"http://127.0.0.1:{served.port}/auth/sign-in")
    with urllib.request.urlopen(request, timeout=SERVER_DEADLINE_S) as answer:  # loopback only
        assert answer.status == 200
        assert "Secure" not in answer.headers["Set-Cookie"]
        assert "Strict-Transport-Security" not in answer.headers


def test_a_taken_port_is_a_clear_error(data_dir: Path, serve: Any) -> None:
    close_app(make_app(data_dir))
    tls.ensure_self_signed(data_dir)
    served = serve(data_dir, "127.0.0.1", 0, tls=True)
    with pytest.raises(server.StationError, match=r"cannot listen on https://127\.0\.0\.1:"):
        server.run(data_dir, "127.0.0.1", served.port, tls=True, say=lambda line: None)


class _RecordingSocket(socket.socket):
    """A socket that remembers the timeouts set on it."""

    timeouts: list[float | None]

    def settimeout(self, value: float | None) -> None:
        self.timeouts.append(value)
        super().settimeout(value)


def test_a_silent_client_cannot_hold_the_handshake_long(tmp_path: Path) -> None:
    """The handshake gets its own short timeout: a client that connects and says nothing is
    dropped after TLS_HANDSHAKE_TIMEOUT_S, not cheroot's 10 s."""
    from cheroot import errors

    cert, key = write_pair(tmp_path / "clinic")
    adapter = server._adapter_class()(str(cert), str(key))
    adapter.context = tls.server_context(cert, key)
    ours, silent = socket.socketpair()
    sock = _RecordingSocket(fileno=ours.detach())
    sock.timeouts = []
    try:
        with pytest.raises(errors.FatalSSLAlert):  # the handshake timed out
            adapter.wrap(sock)
        assert sock.timeouts[0] == server.TLS_HANDSHAKE_TIMEOUT_S < 10
    finally:
        sock.close()
        silent.close()
