"""Announcing the clinic server on the clinic network by mDNS / DNS-SD (python-zeroconf).

The server registers one ``_https._tcp.local.`` service named, by default,
``Dexterity Station <station id> (<hostname>)``, pointing at ``<hostname>.local`` and the
server's port, with TXT ``path=/``, ``version=<software version>`` and ``station=<station id>``.
Browsing apps (``avahi-browse -r _https._tcp``, ``dns-sd -B _https._tcp``, Bonjour browsers)
list it; it is withdrawn (goodbye packets) when the server stops.

Where avahi-daemon already runs (Raspberry Pi OS, most Debian desktops) it answers for
``<hostname>.local`` itself: the service is then registered without address records, so the
two responders never publish different address sets for the same name (avahi would take that
for a host name conflict and rename the machine). Elsewhere zeroconf answers for the name too.

Announcing is a convenience: when it fails (no network, no multicast) the server says so and
serves anyway (:class:`MdnsError` is raised here and turned into a warning by the server).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import zeroconf

from station.errors import StationError

SERVICE_TYPE: Final = "_https._tcp.local."
#: DNS-SD instance names are at most 63 bytes of UTF-8 (RFC 6763, section 4.1.1).
MAX_INSTANCE_BYTES: Final = 63
#: Where avahi-daemon listens for its clients while it runs.
AVAHI_SOCKET: Final = Path("/run/avahi-daemon/socket")

log = logging.getLogger(__name__)


class MdnsError(StationError):
    """The service could not be announced (the server goes on without it)."""


def instance_name(station_id: str, hostname: str) -> str:
    """``Dexterity Station <station id> (<hostname>)``, cut to 63 bytes of UTF-8."""
    return clip_instance(f"Dexterity Station {station_id} ({hostname})")


def clip_instance(name: str) -> str:
    name = " ".join(name.replace(".", " ").split())  # a dot would split the DNS name
    data = name.encode("utf-8")[:MAX_INSTANCE_BYTES]
    return data.decode("utf-8", errors="ignore").rstrip()


def avahi_running() -> bool:
    return AVAHI_SOCKET.exists()


def build_service_info(
    *,
    instance: str,
    port: int,
    hostname: str,
    addresses: Sequence[str],
    station_id: str,
    version: str,
    path: str = "/",
    service_type: str = SERVICE_TYPE,
) -> zeroconf.ServiceInfo:
    """The DNS-SD records of the server (``addresses``: IPs as text; may be empty)."""
    instance = clip_instance(instance)
    if not instance:
        raise MdnsError("the mDNS service name is empty")
    if not 1 <= port <= 65535:
        raise MdnsError(f"cannot announce port {port}")
    parsed = [str(ipaddress.ip_address(a.strip("[]"))) for a in addresses]
    return zeroconf.ServiceInfo(
        service_type,
        f"{instance}.{service_type}",
        port=port,
        parsed_addresses=parsed,
        properties={"path": path, "version": version, "station": station_id},
        server=f"{hostname}.local.",
    )


class Announcement:
    """A registered service; :meth:`close` withdraws it and stops zeroconf."""

    def __init__(self, zc: zeroconf.Zeroconf, info: zeroconf.ServiceInfo) -> None:
        self._zc: zeroconf.Zeroconf | None = zc
        self.info = info

    @property
    def name(self) -> str:
        """The instance name as registered (zeroconf appends "-2", "-3"... when another machine has it)."""
        return self.info.name.removesuffix("." + self.info.type)

    def close(self) -> None:
        zc, self._zc = self._zc, None
        if zc is None:
            return
        try:
            zc.unregister_service(self.info)
        except (OSError, zeroconf.Error, RuntimeError) as exc:
            log.warning("could not withdraw the mDNS announcement: %s", exc)
        finally:
            zc.close()

    def __enter__(self) -> Announcement:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def announce(
    info: zeroconf.ServiceInfo,
    *,
    interfaces: Any = zeroconf.InterfaceChoice.All,
    ip_version: zeroconf.IPVersion | None = None,
) -> Announcement:
    """Register ``info`` on ``interfaces`` (zeroconf's choice, or a list of addresses).

    Takes about a second (the name is probed before it is claimed). Raises :class:`MdnsError`
    when it cannot be done.
    """
    try:
        zc = zeroconf.Zeroconf(interfaces=interfaces, ip_version=ip_version)
    except (OSError, zeroconf.Error, RuntimeError, ValueError) as exc:
        raise MdnsError(f"cannot start mDNS on this network ({exc})") from None
    try:
        zc.register_service(info, allow_name_change=True)
    except (OSError, zeroconf.Error, RuntimeError, ValueError) as exc:
        zc.close()
        raise MdnsError(f"cannot announce {info.name!r} ({exc or type(exc).__name__})") from None
    return Announcement(zc, info)
