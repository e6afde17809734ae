"""The clinic server's TLS certificate: the clinic's own, or a self-signed one made once.

``station serve --init`` makes ``<data_dir>/tls/cert.pem`` and ``key.pem`` (the folder 0700, the
key 0600) if they are absent: an EC P-256 key and a self-signed certificate naming this machine
(``<hostname>``, ``<hostname>.local``, ``localhost``, its loopback and LAN addresses), valid for
825 days. Clinicians compare its SHA-256 fingerprint with the one their browser shows the first
time. A clinic's certificate (and its chain) can be given instead (``--tls-cert``/``--tls-key``,
or copied over the two files).

:func:`load_certificate` checks a certificate and key before the server starts: both readable,
PEM, the key unencrypted and not readable by every user, the key belonging to the certificate,
the certificate valid now; each failure is a :class:`TlsError` saying what is wrong and what to do.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from station.errors import ConfigError

TLS_DIRNAME: Final = "tls"
CERT_FILENAME: Final = "cert.pem"
KEY_FILENAME: Final = "key.pem"
#: Validity of the self-signed certificate. Apple's platforms refuse TLS server certificates
#: valid for more than 825 days, even ones a user or administrator trusts by hand
#: ("Requirements for trusted certificates in iOS 13 and macOS 10.15", support.apple.com/HT210176).
SELF_SIGNED_VALIDITY_DAYS: Final = 825
#: The certificate starts to be valid this long before it is made (clocks differ a little).
BACKDATE: Final = timedelta(hours=1)
#: On start the server warns when the certificate expires sooner than this.
EXPIRY_WARNING_DAYS: Final = 30
ORGANIZATION: Final = "Dexterity Station"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TlsError(ConfigError):
    """A certificate or key that cannot be used (the message says which file and what to do)."""


@dataclass(frozen=True)
class CertificateInfo:
    """What the server and the clinicians need to know about the certificate in use."""

    cert_path: Path
    key_path: Path
    fingerprint_sha256: str  # "AB:CD:..." of the DER certificate, as browsers show it
    subject: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    not_before_utc: datetime
    not_after_utc: datetime
    self_signed: bool

    def days_left(self, now: datetime) -> float:
        return (self.not_after_utc - now).total_seconds() / 86_400.0

    def covers(self, host: str) -> bool:
        """True when a browser would accept this certificate for ``host`` (name or address)."""
        text = host.strip().strip("[]").rstrip(".").lower()
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return any(_name_matches(pattern, text) for pattern in self.dns_names)
        return any(ipaddress.ip_address(a) == address for a in self.ip_addresses)


def _name_matches(pattern: str, host: str) -> bool:
    pattern = pattern.rstrip(".").lower()
    if pattern.startswith("*."):  # a wildcard stands for exactly one label
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def tls_dir(data_dir: Path) -> Path:
    return Path(data_dir) / TLS_DIRNAME


def default_paths(data_dir: Path) -> tuple[Path, Path]:
    """``(<data_dir>/tls/cert.pem, <data_dir>/tls/key.pem)``."""
    folder = tls_dir(data_dir)
    return folder / CERT_FILENAME, folder / KEY_FILENAME


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate as colon-separated upper-case hex (as browsers show it)."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def local_hostname() -> str:
    """This machine's host name, without a domain (``pi-station`` of ``pi-station.lan``)."""
    name = socket.gethostname().strip().rstrip(".")
    return name.split(".", 1)[0] or "localhost"


def local_addresses() -> list[IPAddress]:
    """The machine's addresses a clinic's computer could reach: not loopback, not link-local."""
    import ifaddr  # comes with zeroconf

    found: list[IPAddress] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            text = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                continue
            if address.is_loopback or address.is_link_local or address.is_multicast:
                continue
            if address not in found:
                found.append(address)
    return found


def names_for(hostname: str) -> list[str]:
    """The DNS names a self-signed certificate for ``hostname`` carries."""
    names = [hostname, f"{hostname}.local", "localhost"]
    return list(dict.fromkeys(n.lower() for n in names if n))


def _validity(cert: x509.Certificate) -> tuple[datetime, datetime]:
    before = getattr(cert, "not_valid_before_utc", None)  # cryptography >= 42
    after = getattr(cert, "not_valid_after_utc", None)
    if before is None or after is None:  # older cryptography: naive UTC
        before = cert.not_valid_before.replace(tzinfo=UTC)
        after = cert.not_valid_after.replace(tzinfo=UTC)
    return before, after


def generate_self_signed(
    hostname: str,
    addresses: Iterable[IPAddress],
    *,
    now: datetime | None = None,
    validity_days: int = SELF_SIGNED_VALIDITY_DAYS,
) -> tuple[bytes, bytes]:
    """(certificate PEM, unencrypted PKCS#8 key PEM) for ``hostname`` and ``addresses``."""
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    dns_names = names_for(hostname)
    ips: list[IPAddress] = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    ips += [a for a in addresses if a not in ips]
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0][:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ]
    )
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=validity_days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in dns_names] + [x509.IPAddress(a) for a in ips]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a new file beside ``path`` with ``mode``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_self_signed(
    data_dir: Path,
    *,
    renew: bool = False,
    hostname: str | None = None,
    addresses: Sequence[IPAddress] | None = None,
    now: datetime | None = None,
) -> tuple[CertificateInfo, str]:
    """Make ``<data_dir>/tls/{cert,key}.pem`` if absent (or ``renew``); (info, what was done).

    What was done is ``"created"``, ``"renewed"`` or ``"kept"``. A kept pair is checked like
    the server checks it, so a broken or expired one is reported now (with the fix: ``renew``).
    """
    now = now or datetime.now(UTC)
    cert_path, key_path = default_paths(data_dir)
    folder = cert_path.parent
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    except OSError as exc:
        raise TlsError(f"{folder}: cannot create the TLS folder ({exc.strerror or exc})") from None
    have = [p for p in (cert_path, key_path) if p.exists()]
    if have and not renew:
        if len(have) == 1:
            missing = key_path if have[0] == cert_path else cert_path
            raise TlsError(
                f"{have[0]} exists but {missing} does not; make a new pair with "
                "`station serve --init --renew-cert`"
            )
        try:
            return load_certificate(cert_path, key_path, now=now), "kept"
        except TlsError as exc:
            raise TlsError(
                f"{exc}; `station serve --init --renew-cert` replaces it with a new "
                "self-signed certificate"
            ) from None
    host = hostname or local_hostname()
    found = local_addresses() if addresses is None else list(addresses)
    cert_pem, key_pem = generate_self_signed(host, found, now=now)
    try:
        _write_atomic(key_path, key_pem, 0o600)
        _write_atomic(cert_path, cert_pem, 0o644)
    except OSError as exc:
        raise TlsError(f"{folder}: cannot write the certificate ({exc.strerror or exc})") from None
    return load_certificate(cert_path, key_path, now=now), "renewed" if have else "created"


def _read(path: Path, what: str, option: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TlsError(
            f"the TLS {what} {path} does not exist; give the clinic's with {option}, or make a "
            "self-signed one with `station serve --init`"
        ) from None
    except IsADirectoryError:
        raise TlsError(f"the TLS {what} {path} is a folder, not a file") from None
    except OSError as exc:
        raise TlsError(
            f"cannot read the TLS {what} {path} ({exc.strerror or exc}); the server runs as "
            "a user that must be able to read it"
        ) from None


def load_certificate(
    cert_path: Path, key_path: Path, *, now: datetime | None = None
) -> CertificateInfo:
    """Check a certificate (chain) and its key for serving now; :class:`TlsError` if unusable."""
    now = now or datetime.now(UTC)
    cert_path, key_path = Path(cert_path), Path(key_path)
    cert_data = _read(cert_path, "certificate", "--tls-cert")
    try:
        chain = x509.load_pem_x509_certificates(cert_data)
    except ValueError:
        raise TlsError(
            f"the TLS certificate {cert_path} is not a PEM certificate (a text file starting "
            "with -----BEGIN CERTIFICATE-----)"
        ) from None
    cert = chain[0]

    key_data = _read(key_path, "key", "--tls-key")
    mode = stat.S_IMODE(key_path.stat().st_mode)
    if mode & 0o007:
        raise TlsError(
            f"the TLS key {key_path} can be read by every user (mode {mode:04o}); make it "
            f"private with `chmod 600 {key_path}`"
        )
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except TypeError:
        raise TlsError(
            f"the TLS key {key_path} is protected by a passphrase, which the server cannot ask "
            f"for; store it without one (e.g. `openssl pkey -in {key_path} -out NEW.pem`), "
            "readable only by the server's user"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise TlsError(
            f"the TLS key {key_path} is not a PEM private key (a text file starting with "
            "-----BEGIN PRIVATE KEY----- or similar)"
        ) from None

    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise TlsError(
            f"the TLS key {key_path} does not belong to the certificate {cert_path} (their "
            "public keys differ); give the key the certificate was issued for"
        )

    before, after = _validity(cert)
    if now >= after:
        raise TlsError(
            f"the TLS certificate {cert_path} expired on {after:%Y-%m-%d %H:%M} UTC; get a new "
            "one (`station serve --init --renew-cert` for the self-signed one)"
        )
    if now < before:
        raise TlsError(
            f"the TLS certificate {cert_path} is valid only from {before:%Y-%m-%d %H:%M} UTC; "
            f"is this machine's clock right (it says {now:%Y-%m-%d %H:%M} UTC)?"
        )

    try:
        server_context(cert_path, key_path)
    except ssl.SSLError as exc:
        raise TlsError(
            f"the TLS certificate {cert_path} and key {key_path} are refused by OpenSSL "
            f"({exc.reason or exc})"
        ) from None

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(a) for a in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns_names, ips = (), ()
    return CertificateInfo(
        cert_path=cert_path,
        key_path=key_path,
        fingerprint_sha256=fingerprint(cert),
        subject=cert.subject.rfc4514_string(),
        dns_names=dns_names,
        ip_addresses=ips,
        not_before_utc=before,
        not_after_utc=after,
        self_signed=cert.issuer == cert.subject,
    )


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or newer) with the certificate chain and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_path), str(key_path))
    return context
