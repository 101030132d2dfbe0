"""pytest fixtures for the WS-Management endpoint (registered in tests/conftest.py).

Two endpoints per test session - plain HTTP (NTLM + message encryption) and HTTPS (a
throw-away CA) - and factories that add hosts to them for one test. Hosts are cheap (a
listening socket each), endpoints are shared: "many hosts, few endpoints". A test that needs
an endpoint of its own (other credentials, AllowUnencrypted) uses ``make_wsman_endpoint``.

At teardown a host's handler errors fail the test that made it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# The endpoint's modules are imported by the fixtures that use them: this plugin is loaded by
# every test run, and they pull in pyspnego, cryptography and pywinrm (~0.4 s) and set
# NTLM_USER_FILE (tests/winrm/auth.py).
if TYPE_CHECKING:
    from tests.winrm.certs import TlsMaterial
    from tests.winrm.endpoint import WsmanEndpoint
    from tests.winrm.host import EmulatedHost

HostFactory = Callable[..., "EmulatedHost"]


@pytest.fixture(scope="session")
def wsman_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    """The HTTPS endpoint's CA, certificate and key."""
    from tests.winrm.certs import make_tls_material

    return make_tls_material(tmp_path_factory.mktemp("wsman-tls"))


@pytest.fixture(scope="session")
def wsman_other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA bundle that did not sign the endpoint's certificate."""
    from tests.winrm.certs import make_ca

    return make_ca(tmp_path_factory.mktemp("wsman-other-ca"))


@pytest.fixture(scope="session")
def wsman_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WsmanEndpoint]:
    from tests.winrm.endpoint import WsmanEndpoint

    with WsmanEndpoint(workdir=tmp_path_factory.mktemp("wsman-http")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def wsman_tls_endpoint(
    tmp_path_factory: pytest.TempPathFactory, wsman_tls: TlsMaterial
) -> Iterator[WsmanEndpoint]:
    from tests.winrm.endpoint import WsmanEndpoint

    with WsmanEndpoint(tls=wsman_tls, workdir=tmp_path_factory.mktemp("wsman-https")) as endpoint:
        yield endpoint


def _host_factory(endpoint: WsmanEndpoint) -> Iterator[HostFactory]:
    made: list[EmulatedHost] = []

    def add(name: str | None = None, handler: Any = None, **kwargs: Any) -> EmulatedHost:
        host = endpoint.add_host(name, handler, **kwargs)
        made.append(host)
        return host

    yield add
    errors = []
    for host in made:
        endpoint.remove_host(host)
        errors += [f"{host.name}: {error!r}" for error in host.errors]
    if errors:
        pytest.fail("command handlers raised: " + "; ".join(errors))


@pytest.fixture
def wsman_host(wsman_endpoint: WsmanEndpoint) -> Iterator[HostFactory]:
    """``wsman_host(name=None, handler=None, credentials=None) -> EmulatedHost`` on the shared
    HTTP endpoint; removed after the test."""
    yield from _host_factory(wsman_endpoint)


@pytest.fixture
def wsman_tls_host(wsman_tls_endpoint: WsmanEndpoint) -> Iterator[HostFactory]:
    """The same on the shared HTTPS endpoint."""
    yield from _host_factory(wsman_tls_endpoint)


@pytest.fixture
def make_wsman_endpoint(tmp_path: Path) -> Iterator[Callable[..., WsmanEndpoint]]:
    """``make_wsman_endpoint(**WsmanEndpoint kwargs)``: a started endpoint for this test."""
    from tests.winrm.endpoint import WsmanEndpoint

    made: list[WsmanEndpoint] = []

    def make(**kwargs: Any) -> WsmanEndpoint:
        kwargs.setdefault("workdir", tmp_path / f"wsman-{len(made)}")
        endpoint = WsmanEndpoint(**kwargs).start()
        made.append(endpoint)
        return endpoint

    yield make
    errors = [f"{h.name}: {e!r}" for endpoint in made for h in endpoint.hosts for e in h.errors]
    for endpoint in made:
        endpoint.stop()
    if errors:
        pytest.fail("command handlers raised: " + "; ".join(errors))
