"""Authentication and transport security as pywinrm meets them on a Windows listener."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import winrm
from winrm.exceptions import InvalidCredentialsError, WinRMTransportError

from tests.winrm.auth import Credentials, tls_channel_bindings
from tests.winrm.clients import WireTap, protocol_for, session_for

# an exception in one of the endpoint's threads fails the test that caused it
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")


def test_wrong_password_is_refused_with_401(wsman_host):
    host = wsman_host()
    wrong = Credentials(host.credentials.username, host.credentials.password + "x")

    with pytest.raises(InvalidCredentialsError):
        session_for(host, wrong).run_cmd("echo", ["hi"])

    assert host.outcomes("auth") == ["401"]
    assert host.commands_started == [] and len(host.shells) == 0


def test_unknown_user_is_refused_with_401(wsman_host):
    host = wsman_host()
    stranger = Credentials("Guest", host.credentials.password)

    with pytest.raises(InvalidCredentialsError):
        session_for(host, stranger).run_cmd("echo", ["hi"])

    assert host.outcomes("auth") == ["401"]


def test_basic_over_http_is_refused_even_with_the_right_password(wsman_host):
    host = wsman_host()
    tap = WireTap(host.port)
    credentials = host.credentials
    try:
        session = winrm.Session(
            tap.url(),
            auth=(credentials.username, credentials.password),
            transport="basic",
            ca_trust_path=None,
        )
        with pytest.raises(InvalidCredentialsError):
            session.run_cmd("echo", ["hi"])
    finally:
        tap.close()

    # Windows does not offer Basic on an HTTP listener: only Negotiate
    assert b"Authorization: Basic " in tap.to_server
    assert b"WWW-Authenticate: Negotiate\r\n" in tap.to_client
    assert b"Basic realm" not in tap.to_client
    assert host.outcomes("auth") == ["401"]
    assert host.commands_started == []


def test_plaintext_soap_over_http_is_refused_unless_allow_unencrypted(make_wsman_endpoint):
    strict = make_wsman_endpoint().add_host()
    relaxed = make_wsman_endpoint(allow_unencrypted=True).add_host()

    with pytest.raises(WinRMTransportError) as refused:
        session_for(strict, message_encryption="never").run_cmd("echo", ["hi"])
    result = session_for(relaxed, message_encryption="never").run_cmd("echo", ["hi"])

    assert refused.value.code == 500
    assert strict.outcomes("unencrypted") == ["http 500"] and strict.commands_started == []
    assert result.std_out == b"hi\r\n"


def test_each_endpoint_accepts_only_its_own_password(make_wsman_endpoint):
    endpoints = [make_wsman_endpoint() for _ in range(3)]
    hosts = [endpoint.add_host() for endpoint in endpoints]
    # same user name everywhere, three different passwords
    assert len({h.credentials.password for h in hosts}) == 3
    assert len({h.credentials.username for h in hosts}) == 1

    def attempt(pair):
        host, credentials = pair
        try:
            return session_for(host, credentials).run_cmd("echo", ["ok"]).std_out
        except InvalidCredentialsError:
            return b"401"

    pairs = [(h, c.credentials) for h in hosts for c in hosts]
    with ThreadPoolExecutor(max_workers=9) as pool:
        results = list(pool.map(attempt, pairs))

    expected = [b"ok\r\n" if h is c else b"401" for h in hosts for c in hosts]
    assert results == expected


def test_rotated_password_refuses_new_sessions(wsman_host):
    host = wsman_host()
    old = host.credentials
    host.set_credentials(Credentials(old.username, "Rotated-" + old.password))

    with pytest.raises(InvalidCredentialsError):
        session_for(host, old).run_cmd("echo", ["hi"])
    assert session_for(host).run_cmd("echo", ["hi"]).std_out == b"hi\r\n"


def test_https_basic_with_trusted_ca(wsman_tls_host, wsman_tls):
    host = wsman_tls_host()

    result = session_for(host, transport="ssl", ca_trust_path=str(wsman_tls.ca_path)).run_cmd(
        "echo", ["over tls"]
    )

    assert result.std_out == b"over tls\r\n"
    assert host.commands_started[-1].shell.owner == host.credentials.username


def test_https_basic_wrong_password_is_401(wsman_tls_host, wsman_tls):
    host = wsman_tls_host()
    wrong = Credentials(host.credentials.username, "not-" + host.credentials.password)

    with pytest.raises(InvalidCredentialsError):
        session_for(host, wrong, transport="ssl", ca_trust_path=str(wsman_tls.ca_path)).run_cmd(
            "echo", ["hi"]
        )
    assert host.outcomes("auth") == ["401"]


def test_https_ntlm_with_channel_binding(wsman_tls_host, wsman_tls):
    host = wsman_tls_host()

    # message_encryption="auto" over HTTPS: TLS protects the body, NTLM authenticates the
    # connection, and requests_ntlm binds it to the certificate (CBT), which the endpoint checks
    result = session_for(host, ca_trust_path=str(wsman_tls.ca_path)).run_ps("Get-Date")

    assert result.std_out == b"Get-Date"


def test_https_with_an_untrusted_ca_fails_certificate_validation(wsman_tls_host, wsman_other_ca):
    host = wsman_tls_host()

    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        session_for(host, transport="ssl", ca_trust_path=str(wsman_other_ca)).run_cmd("echo")
    assert host.log == []  # no request got through

    ignored = session_for(host, transport="ssl", server_cert_validation="ignore")
    assert ignored.run_cmd("echo", ["anyway"]).std_out == b"anyway\r\n"


def test_https_ntlm_bound_to_another_certificate_is_refused(make_wsman_endpoint, wsman_tls):
    # As through a TLS-intercepting proxy: the client binds NTLM to the certificate it sees,
    # the host expects its own (Windows: CbtHardeningLevel). Simulated by changing what the
    # endpoint expects.
    endpoint = make_wsman_endpoint(tls=wsman_tls)
    host = endpoint.add_host()
    endpoint.channel_bindings = tls_channel_bindings(b"another certificate", "sha256")

    with pytest.raises(InvalidCredentialsError):
        session_for(host, ca_trust_path=str(wsman_tls.ca_path)).run_cmd("echo", ["hi"])
    assert host.outcomes("auth") == ["401"]


def test_a_url_other_than_wsman_is_404_before_authentication(wsman_host):
    host = wsman_host()
    other = protocol_for(host)
    other.transport.endpoint = host.url.replace("/wsman", "/wsman-other")

    with pytest.raises(WinRMTransportError) as error:
        other.open_shell()

    assert error.value.code == 404
    assert requests.get(host.url, timeout=5).status_code == 405
    assert host.log == []


def test_ntlm_handshakes_leave_os_environ_stable_for_other_threads(wsman_host):
    # The acceptor finds its accounts through NTLM_USER_FILE. Other threads read os.environ at
    # the same time (requests looks for proxies on every new session): the variable may
    # change value, but must never appear or disappear under them.
    hosts = [wsman_host() for _ in range(4)]
    failures: list[BaseException] = []
    stop = threading.Event()

    def read_environment():
        while not stop.is_set():
            try:
                dict(os.environ.items())
            except Exception as exc:  # KeyError / RuntimeError when a key vanishes
                failures.append(exc)
                return

    readers = [threading.Thread(target=read_environment) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            outputs = list(
                pool.map(lambda h: session_for(h).run_cmd("echo", ["x"]).std_out, hosts * 3)
            )
    finally:
        stop.set()
        for reader in readers:
            reader.join()

    assert failures == []
    assert outputs == [b"x\r\n"] * 12
