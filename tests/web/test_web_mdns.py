"""mDNS: the service records, a real announcement on the loopback interface, failures.

Every zeroconf here listens and sends on 127.0.0.1 only: nothing leaves this machine.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zeroconf

from station import __version__
from tests.web.conftest import make_app
from tests.web.test_web_cli import run_web_cli
from web import close_app, mdns, server, tls

LOOPBACK = ["127.0.0.1"]
TYPE = mdns.SERVICE_TYPE
#: Upper bound for one mDNS event (probing, announcing, answering a query) or for a server to
#: start or stop on a loaded CI machine: a failure bound, not an expected duration.
DEADLINE_S = 60.0


@pytest.fixture(autouse=True)
def _no_avahi(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without avahi-daemon: zeroconf answers for the host name too."""
    monkeypatch.setattr(mdns, "avahi_running", lambda: False)
    monkeypatch.delenv(server.ENV_TLS_CERT, raising=False)
    monkeypatch.delenv(server.ENV_TLS_KEY, raising=False)


@pytest.fixture
def browser() -> Iterator[zeroconf.Zeroconf]:
    """A second mDNS stack on the loopback interface, as a clinician's computer would be."""
    zc = zeroconf.Zeroconf(interfaces=LOOPBACK, ip_version=zeroconf.IPVersion.V4Only)
    yield zc
    zc.close()


class Watcher:
    """Records services of ``TYPE`` appearing and disappearing (zeroconf's listener)."""

    def __init__(self) -> None:
        self.added: dict[str, threading.Event] = {}
        self.removed: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def _event(self, table: dict[str, threading.Event], name: str) -> threading.Event:
        with self._lock:
            return table.setdefault(name, threading.Event())

    def add_service(self, zc: zeroconf.Zeroconf, type_: str, name: str) -> None:
        self._event(self.added, name).set()

    def remove_service(self, zc: zeroconf.Zeroconf, type_: str, name: str) -> None:
        self._event(self.removed, name).set()

    def update_service(self, zc: zeroconf.Zeroconf, type_: str, name: str) -> None:
        pass

    def wait_added(self, name: str, timeout_s: float = DEADLINE_S) -> bool:
        return self._event(self.added, name).wait(timeout_s)

    def wait_removed(self, name: str, timeout_s: float = DEADLINE_S) -> bool:
        return self._event(self.removed, name).wait(timeout_s)


def test_instance_names_fit_dns_sd() -> None:
    assert mdns.instance_name("reference-01", "pi-station") == (
        "Dexterity Station reference-01 (pi-station)"
    )
    long = mdns.instance_name("ward-" + "é" * 40, "host")
    assert len(long.encode("utf-8")) <= mdns.MAX_INSTANCE_BYTES
    assert long.startswith("Dexterity Station ward-é") and "\ufffd" not in long
    assert mdns.clip_instance("  Room 1.2  station ") == "Room 1 2 station"


def test_the_service_records() -> None:
    info = mdns.build_service_info(
        instance="Dexterity Station ward-3 (pi7)",
        port=8443,
        hostname="pi7",
        addresses=["192.0.2.10", "fd00::10"],
        station_id="ward-3",
        version="1.2.3",
    )
    assert info.type == "_https._tcp.local."
    assert info.name == "Dexterity Station ward-3 (pi7)._https._tcp.local."
    assert info.server == "pi7.local."
    assert info.port == 8443
    assert info.parsed_addresses() == ["192.0.2.10", "fd00::10"]
    assert info.properties == {b"path": b"/", b"version": b"1.2.3", b"station": b"ward-3"}
    with pytest.raises(mdns.MdnsError, match="cannot announce port 0"):
        mdns.build_service_info(
            instance="x", port=0, hostname="h", addresses=[], station_id="s", version="1"
        )
    with pytest.raises(mdns.MdnsError, match="empty"):
        mdns.build_service_info(
            instance=" . ", port=1, hostname="h", addresses=[], station_id="s", version="1"
        )


LAN = [
    ipaddress.ip_address("192.0.2.10"),
    ipaddress.ip_address("198.51.100.7"),
    ipaddress.ip_address("fd00::10"),
]


def test_what_is_announced_where() -> None:
    def plan(host: str, **kwargs: Any) -> server.MdnsPlan | None:
        return server.plan_announcement(
            host, 8443, station_id="ref-01", hostname="pi7", addresses=LAN, **kwargs
        )

    assert plan("127.0.0.1", avahi=False) is None  # this machine only: nothing to announce
    assert plan("::1", avahi=False) is None

    v4 = plan("0.0.0.0", avahi=False)
    assert v4 is not None
    assert v4.interfaces == zeroconf.InterfaceChoice.All
    assert v4.ip_version == zeroconf.IPVersion.V4Only
    assert v4.info.parsed_addresses() == ["192.0.2.10", "198.51.100.7"]
    assert v4.info.name == f"Dexterity Station ref-01 (pi7).{TYPE}"
    assert v4.info.properties[b"version"] == __version__.encode()

    both = plan("::", avahi=False)
    assert both is not None and both.ip_version == zeroconf.IPVersion.All
    assert both.info.parsed_addresses() == ["192.0.2.10", "198.51.100.7", "fd00::10"]

    one = plan("198.51.100.7", avahi=False, instance="Ward 3 station")
    assert one is not None and one.interfaces == ["198.51.100.7"]
    assert one.info.parsed_addresses() == ["198.51.100.7"]
    assert one.info.name == f"Ward 3 station.{TYPE}"

    with_avahi = plan("0.0.0.0", avahi=True)  # avahi answers for pi7.local: no address records
    assert with_avahi is not None and with_avahi.info.parsed_addresses() == []
    assert with_avahi.info.server == "pi7.local."

    tested = plan("127.0.0.1", avahi=False, interfaces=LOOPBACK)
    assert tested is not None and tested.interfaces == LOOPBACK
    assert tested.info.parsed_addresses() == LOOPBACK


def test_a_real_announcement_on_loopback(browser: zeroconf.Zeroconf) -> None:
    info = mdns.build_service_info(
        instance="Dexterity Station test-a (loop)",
        port=18443,
        hostname="loop-a",
        addresses=LOOPBACK,
        station_id="test-a",
        version=__version__,
    )
    watcher = Watcher()
    watch = zeroconf.ServiceBrowser(browser, TYPE, watcher)
    try:
        announcement = mdns.announce(
            info, interfaces=LOOPBACK, ip_version=zeroconf.IPVersion.V4Only
        )
        with announcement:
            assert announcement.name == "Dexterity Station test-a (loop)"
            assert watcher.wait_added(info.name)
            found = browser.get_service_info(TYPE, info.name, timeout=int(DEADLINE_S * 1000))
            assert found is not None
            assert found.port == 18443 and found.server == "loop-a.local."
            assert found.parsed_addresses() == ["127.0.0.1"]
            assert found.properties[b"path"] == b"/"
            assert found.properties[b"station"] == b"test-a"
        assert watcher.wait_removed(info.name)  # the goodbye on close
        announcement.close()  # twice is harmless
    finally:
        watch.cancel()


def test_failing_to_announce_is_an_mdns_error(monkeypatch: pytest.MonkeyPatch) -> None:
    info = mdns.build_service_info(
        instance="x", port=1, hostname="h", addresses=[], station_id="s", version="1"
    )

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise OSError(19, "No such device")

    monkeypatch.setattr(zeroconf, "Zeroconf", no_network)
    with pytest.raises(mdns.MdnsError, match="cannot start mDNS on this network"):
        mdns.announce(info)


@pytest.fixture
def serve(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``server.run`` over HTTPS on 127.0.0.1 in a thread; stopped (and checked) at the end."""
    close_app(make_app(data_dir))
    tls.ensure_self_signed(data_dir, hostname="loop", addresses=[])
    monkeypatch.setattr(server, "local_hostname", lambda: "loop")
    made: list[Any] = []
    real_make = server.make_server

    def make(*args: Any, **kwargs: Any) -> Any:
        made.append(real_make(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(server, "make_server", make)
    runs: list[tuple[threading.Thread, list[str]]] = []

    def start(**kwargs: Any) -> tuple[list[str], Any]:
        """Starts a server; (what it said, the cheroot server)."""
        said: list[str] = []
        ready = threading.Event()

        def say(line: str) -> None:
            said.append(line)
            if line == "Ctrl-C stops":
                ready.set()

        def target() -> None:
            try:
                server.run(
                    data_dir, "127.0.0.1", 0, tls=True, station_id="ref-01", say=say, **kwargs
                )
            finally:
                ready.set()

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        runs.append((thread, said))
        assert ready.wait(DEADLINE_S) and said[-1] == "Ctrl-C stops", said
        return said, made[-1][0]

    yield start
    for made_server, _ in made:
        server.stop(made_server)
    for thread, said in runs:
        thread.join(DEADLINE_S)
        assert not thread.is_alive() and said[-1] == "clinic server stopped"


def test_the_server_announces_itself_and_withdraws(
    serve: Any, browser: zeroconf.Zeroconf, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher = Watcher()
    watch = zeroconf.ServiceBrowser(browser, TYPE, watcher)
    name = f"Dexterity Station ref-01 (loop).{TYPE}"
    try:
        said, running = serve(mdns_interfaces=LOOPBACK)
        assert 'announced on the network as "Dexterity Station ref-01 (loop)"' in "\n".join(said)
        port = int(said[0].split("https://127.0.0.1:")[1].split("/")[0])
        assert watcher.wait_added(name)
        found = browser.get_service_info(TYPE, name, timeout=int(DEADLINE_S * 1000))
        assert found is not None and found.port == port
        assert found.parsed_addresses() == LOOPBACK
        assert found.properties[b"version"] == __version__.encode()
        server.stop(running)
        assert watcher.wait_removed(name)  # unregistered when the server stops
    finally:
        watch.cancel()


def test_no_mdns_and_failures_do_not_stop_the_server(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("announced despite --no-mdns")

    monkeypatch.setattr(mdns, "announce", must_not_run)
    said, _ = serve(mdns=False, mdns_interfaces=LOOPBACK)
    assert not any("announced" in line for line in said)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise mdns.MdnsError("cannot start mDNS on this network (no multicast)")

    monkeypatch.setattr(mdns, "announce", fail)
    said, _ = serve(mdns_interfaces=LOOPBACK)
    assert (
        "warning: not announced on the network by mDNS: cannot start mDNS on this network "
        "(no multicast); serving anyway" in said
    )
    assert said[-1] == "Ctrl-C stops"


@pytest.mark.parametrize(
    ("name", "message"),
    [("x" * 64, "at most 63 bytes"), ("bad\x07name", "printable"), ("   ", "printable")],
)
def test_the_mdns_name_option(
    name: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = run_web_cli(["serve", "--mdns-name", name], capsys, monkeypatch)
    assert code == 2 and message in err
