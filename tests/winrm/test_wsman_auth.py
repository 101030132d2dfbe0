"""Authentication and transport security as pywinrm meets them on a Windows listener."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import winrm
from winrm.exceptions import InvalidCredentialsError, WinRMTransportError

from tests.winrm.auth import Credentials
from tests.winrm.clients import WireTap, session_for


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
