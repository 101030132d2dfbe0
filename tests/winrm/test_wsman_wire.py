"""The endpoint's pure parts against pywinrm's own message building and framing code."""

from __future__ import annotations

import base64
import types
import uuid
from pathlib import Path

import pytest
import spnego
import xmltodict
from requests_ntlm.requests_ntlm import ShimSessionSecurity
from winrm.encryption import Encryption
from winrm.exceptions import WinRMError
from winrm.protocol import Protocol

from tests.winrm import encryption, soap
from tests.winrm.auth import AuthFailed, Credentials, NtlmAcceptor, NtlmUserFiles
from tests.winrm.process import CommandRequest, ShellSettings

# an exception in one of the endpoint's threads fails the test that caused it
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT20S", 20), ("PT60.000S", 60), ("PT0.5S", 0.5), ("P0DT1H2M3.5S", 3723.5), ("P1D", 86400)],
)
def test_parse_duration(text, seconds):
    assert soap.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["20", "PT", "P", "PT20", "P1DT", "-PT1S", "PT1S junk"])
def test_parse_duration_refuses_what_is_not_a_duration(text):
    with pytest.raises(soap.MalformedRequest):
        soap.parse_duration(text)


def _pywinrm_receive_message() -> tuple[bytes, str]:
    protocol = Protocol("http://127.0.0.1:5985/wsman", username="u", password="p")
    message_id = str(uuid.uuid4())
    envelope = protocol.build_wsman_header(
        action=soap.ACTION_RECEIVE,
        resource_uri=soap.CMD_SHELL_URI,
        shell_id="4283CBDC-3706-415B-88BD-B385F3E51A53",
        message_id=message_id,
    )
    envelope.setdefault("env:Body", {})["rsp:Receive"] = {
        "rsp:DesiredStream": {"@CommandId": "CF84C20A", "#text": "stdout stderr"}
    }
    return xmltodict.unparse({"env:Envelope": envelope}).encode(), message_id


def test_parse_request_reads_what_pywinrm_builds():
    message, message_id = _pywinrm_receive_message()

    request = soap.parse_request(message)

    assert request.action_name == "Receive"
    assert request.message_id == f"uuid:{message_id}"
    assert request.shell_id == "4283CBDC-3706-415B-88BD-B385F3E51A53"
    assert (request.operation_timeout, request.max_envelope_size) == (20, 153600)
    assert soap.read_receive(request.body) == ("CF84C20A", "stdout stderr")


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<Envelope/>",
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/></s:Envelope>',
    ],
)
def test_parse_request_refuses_what_is_not_a_wsman_envelope(body):
    with pytest.raises(soap.MalformedRequest):
        soap.parse_request(body)


def _command(line: str) -> CommandRequest:
    command, _, arguments = line.partition(" ")
    return CommandRequest("h", ShellSettings("S"), "C", command, (arguments,) if arguments else ())


@pytest.mark.parametrize(
    "template",
    [
        "powershell -encodedcommand {}",  # pywinrm's run_ps
        "PowerShell.exe -NoProfile -NonInteractive -EncodedCommand {}",
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -enc {}",
        "powershell -e {}",
        "pwsh -ec {}",
    ],
)
def test_powershell_script_is_decoded_from_utf16le_base64(template):
    script = "Get-WindowsUpdate | ConvertTo-Json  # Grüße"
    encoded = base64.b64encode(script.encode("utf-16-le")).decode()

    assert _command(template.format(encoded)).powershell_script == script


def test_powershell_script_is_none_for_other_commands():
    assert _command("cmd /c echo -e hi").powershell_script is None
    assert _command("powershell -Command -").powershell_script is None


def test_powershell_script_that_is_not_base64_is_an_error():
    with pytest.raises(ValueError, match="EncodedCommand"):
        _ = _command("powershell -EncodedCommand not*base64").powershell_script


def _ntlm_pair(tmp_path: Path):
    """A pywinrm-side client context and the endpoint's acceptor, authenticated."""
    credentials = Credentials("Administrator", "Secret-1")
    acceptor = NtlmAcceptor(NtlmUserFiles(tmp_path).path_for(credentials), None)
    client = spnego.client(
        credentials.username, credentials.password, protocol="ntlm", service="http"
    )
    challenge = acceptor.step(client.step())
    assert acceptor.step(client.step(challenge)) is None
    session = types.SimpleNamespace(auth=types.SimpleNamespace(session_security=None))
    session.auth.session_security = ShimSessionSecurity(client)
    return Encryption(session, "ntlm"), acceptor.context


def test_encrypted_bodies_round_trip_with_pywinrm_framing(tmp_path):
    pywinrm_side, endpoint_side = _ntlm_pair(tmp_path)
    request = b"<s:Envelope>request</s:Envelope>" * 50
    reply = "<s:Envelope>réponse</s:Envelope>".encode() * 50

    framed = pywinrm_side._encrypt_message(request, "h") + Encryption.MIME_BOUNDARY + b"--\r\n"
    received = encryption.decrypt_body(framed, endpoint_side)
    answer = encryption.encrypt_body(reply, endpoint_side)
    understood = pywinrm_side._decrypt_response(types.SimpleNamespace(content=answer), "h")

    assert (received, understood) == (request, reply)
    assert request not in framed and reply not in answer


def test_tampered_encrypted_body_is_refused(tmp_path):
    pywinrm_side, endpoint_side = _ntlm_pair(tmp_path)
    framed = bytearray(
        pywinrm_side._encrypt_message(b"<s:Envelope/>", "h") + Encryption.MIME_BOUNDARY + b"--\r\n"
    )
    framed[-30] ^= 0x01  # a bit of the sealed message

    with pytest.raises(encryption.EncryptionError):
        encryption.decrypt_body(bytes(framed), endpoint_side)


def test_pywinrm_refuses_a_response_whose_length_header_lies(tmp_path):
    pywinrm_side, endpoint_side = _ntlm_pair(tmp_path)
    answer = encryption.encrypt_body(b"<s:Envelope/>", endpoint_side).replace(
        b"Length=13", b"Length=14"
    )

    with pytest.raises(WinRMError, match="tampered"):
        pywinrm_side._decrypt_response(types.SimpleNamespace(content=answer), "h")


def test_wrong_password_never_completes_the_acceptor(tmp_path):
    acceptor = NtlmAcceptor(
        NtlmUserFiles(tmp_path).path_for(Credentials("Administrator", "Secret-1")), None
    )
    client = spnego.client("Administrator", "Secret-2", protocol="ntlm", service="http")
    challenge = acceptor.step(client.step())

    with pytest.raises(AuthFailed):
        acceptor.step(client.step(challenge))
