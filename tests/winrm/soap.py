"""WS-Management SOAP envelopes: read what a client sends, write what Windows answers.

Pure functions, no I/O. The response layouts (namespace prefixes, header order, the rsp:Shell
block of a CreateResponse, the empty ``End="true"`` streams that close a command's output,
fault bodies) follow messages recorded from Windows Server by pypsrp's test suite
(``jborean93/pypsrp`` ``tests/responses/test_winrs_standard.yml``, ``test_winrs_send.yml``,
``test_winrs_bad_cmd_id.yml``) and [MS-WSMV] 3.1.4 (Create, Command, Send, Receive, Signal,
Delete of the Text-based Command Shell). The reader accepts what pywinrm 0.5's ``protocol.py``
builds (``env:``/``a:``/``w:``/``rsp:`` prefixes from xmltodict) and any other prefix choice.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from base64 import b64encode
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_WSMAN_MS = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
NS_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_WSMAN_FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

CMD_SHELL_URI = f"{NS_SHELL}/cmd"
ANONYMOUS = f"{NS_ADDRESSING}/role/anonymous"

ACTION_CREATE = f"{NS_TRANSFER}/Create"
ACTION_DELETE = f"{NS_TRANSFER}/Delete"
ACTION_COMMAND = f"{NS_SHELL}/Command"
ACTION_SEND = f"{NS_SHELL}/Send"
ACTION_RECEIVE = f"{NS_SHELL}/Receive"
ACTION_SIGNAL = f"{NS_SHELL}/Signal"
ACTION_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"

SIGNAL_TERMINATE = f"{NS_SHELL}/signal/terminate"
SIGNAL_CTRL_C = f"{NS_SHELL}/signal/ctrl_c"
STATE_RUNNING = f"{NS_SHELL}/CommandState/Running"
STATE_DONE = f"{NS_SHELL}/CommandState/Done"

# The short names used in logs, fault rules and the README ("Receive", not the URI).
ACTION_NAMES = {
    ACTION_CREATE: "Create",
    ACTION_DELETE: "Delete",
    ACTION_COMMAND: "Command",
    ACTION_SEND: "Send",
    ACTION_RECEIVE: "Receive",
    ACTION_SIGNAL: "Signal",
}


class MalformedRequest(ValueError):
    """The body is not a SOAP envelope a WS-Management service can read."""


@dataclass(frozen=True)
class WsmanRequest:
    """The parts of a request envelope the shell service acts on."""

    action: str
    message_id: str
    resource_uri: str
    to: str
    operation_timeout: float | None
    max_envelope_size: int | None
    selectors: dict[str, str]
    options: dict[str, str]
    body: ET.Element | None

    @property
    def action_name(self) -> str:
        return ACTION_NAMES.get(self.action, self.action.rsplit("/", 1)[-1])

    @property
    def shell_id(self) -> str | None:
        return self.selectors.get("ShellId")

    def option_flag(self, name: str, default: bool) -> bool:
        """A TRUE/FALSE option (pywinrm sends ``TRUE``, pypsrp ``True``)."""
        value = self.options.get(name)
        return default if value is None else value.strip().upper() == "TRUE"


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _text(parent: ET.Element | None, ns: str, name: str) -> str | None:
    if parent is None:
        return None
    found = parent.find(_q(ns, name))
    return None if found is None else (found.text or "").strip()


_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> float:
    """Seconds in an xs:duration as WS-Management uses it (``PT20S``, ``PT60.000S``, ``P0DT1H``).

    Raises:
        MalformedRequest: the text is not a day/time duration.
    """
    match = _DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise MalformedRequest(f"not an xs:duration: {text!r}")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def parse_request(data: bytes) -> WsmanRequest:
    """Read a WS-Management request envelope.

    Raises:
        MalformedRequest: not XML, not a SOAP 1.2 envelope, or no wsa:Action / wsa:MessageID.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise MalformedRequest(f"request body is not XML: {exc}") from exc
    if root.tag != _q(NS_SOAP, "Envelope"):
        raise MalformedRequest(f"expected a SOAP 1.2 Envelope, got {root.tag}")
    header = root.find(_q(NS_SOAP, "Header"))
    body = root.find(_q(NS_SOAP, "Body"))
    action = _text(header, NS_ADDRESSING, "Action")
    message_id = _text(header, NS_ADDRESSING, "MessageID")
    if not action or not message_id:
        raise MalformedRequest("the envelope has no wsa:Action or wsa:MessageID header")
    timeout_text = _text(header, NS_WSMAN, "OperationTimeout")
    envelope_text = _text(header, NS_WSMAN, "MaxEnvelopeSize")
    selectors: dict[str, str] = {}
    options: dict[str, str] = {}
    if header is not None:
        for selector in header.iter(_q(NS_WSMAN, "Selector")):
            selectors[selector.get("Name", "")] = (selector.text or "").strip()
        for option in header.iter(_q(NS_WSMAN, "Option")):
            options[option.get("Name", "")] = (option.text or "").strip()
    try:
        max_envelope = int(envelope_text) if envelope_text else None
    except ValueError as exc:
        raise MalformedRequest(f"MaxEnvelopeSize is not a number: {envelope_text!r}") from exc
    return WsmanRequest(
        action=action,
        message_id=message_id,
        resource_uri=_text(header, NS_WSMAN, "ResourceURI") or "",
        to=_text(header, NS_ADDRESSING, "To") or "",
        operation_timeout=parse_duration(timeout_text) if timeout_text else None,
        max_envelope_size=max_envelope,
        selectors=selectors,
        options=options,
        body=body[0] if body is not None and len(body) else None,
    )


# --- reading the bodies of shell requests -------------------------------------------------


@dataclass(frozen=True)
class ShellCreateBody:
    """rsp:Shell of a Create: [MS-WSMV] 2.2.4.37."""

    input_streams: str = "stdin"
    output_streams: str = "stdout stderr"
    working_directory: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    idle_timeout: str | None = None


def read_shell_create(body: ET.Element | None) -> ShellCreateBody:
    if body is None or body.tag != _q(NS_SHELL, "Shell"):
        raise MalformedRequest("a Create of a cmd shell needs an rsp:Shell body")
    environment = {
        var.get("Name", ""): var.text or "" for var in body.iter(_q(NS_SHELL, "Variable"))
    }
    return ShellCreateBody(
        input_streams=_text(body, NS_SHELL, "InputStreams") or "stdin",
        output_streams=_text(body, NS_SHELL, "OutputStreams") or "stdout stderr",
        working_directory=_text(body, NS_SHELL, "WorkingDirectory"),
        environment=environment,
        idle_timeout=_text(body, NS_SHELL, "IdleTimeOut"),
    )


def read_command_line(body: ET.Element | None) -> tuple[str, tuple[str, ...]]:
    """rsp:Command and the rsp:Arguments (pywinrm joins its arguments into one element)."""
    if body is None or body.tag != _q(NS_SHELL, "CommandLine"):
        raise MalformedRequest("a Command needs an rsp:CommandLine body")
    command = body.find(_q(NS_SHELL, "Command"))
    if command is None:
        raise MalformedRequest("rsp:CommandLine has no rsp:Command")
    arguments = tuple(arg.text or "" for arg in body.findall(_q(NS_SHELL, "Arguments")))
    return (command.text or "").strip(), arguments


@dataclass(frozen=True)
class SendBody:
    command_id: str
    stream: str
    data_base64: str
    end: bool


def read_send(body: ET.Element | None) -> list[SendBody]:
    if body is None or body.tag != _q(NS_SHELL, "Send"):
        raise MalformedRequest("a Send needs an rsp:Send body")
    streams = []
    for stream in body.findall(_q(NS_SHELL, "Stream")):
        streams.append(
            SendBody(
                command_id=stream.get("CommandId", ""),
                stream=stream.get("Name", ""),
                data_base64=(stream.text or "").strip(),
                end=stream.get("End", "false").strip().lower() == "true",
            )
        )
    return streams


def read_receive(body: ET.Element | None) -> tuple[str | None, str]:
    """The CommandId (None: the shell's own streams) and the desired stream names."""
    if body is None or body.tag != _q(NS_SHELL, "Receive"):
        raise MalformedRequest("a Receive needs an rsp:Receive body")
    desired = body.find(_q(NS_SHELL, "DesiredStream"))
    if desired is None:
        raise MalformedRequest("rsp:Receive has no rsp:DesiredStream")
    return desired.get("CommandId"), (desired.text or "").strip()


def read_signal(body: ET.Element | None) -> tuple[str | None, str]:
    if body is None or body.tag != _q(NS_SHELL, "Signal"):
        raise MalformedRequest("a Signal needs an rsp:Signal body")
    return body.get("CommandId"), _text(body, NS_SHELL, "Code") or ""


# --- writing responses ---------------------------------------------------------------------

_RESPONSE_NAMESPACES = (
    f'xmlns:s="{NS_SOAP}" xmlns:a="{NS_ADDRESSING}" xmlns:x="{NS_TRANSFER}" '
    f'xmlns:w="{NS_WSMAN}" xmlns:rsp="{NS_SHELL}" xmlns:p="{NS_WSMAN_MS}"'
)
_FAULT_NAMESPACES = (
    f'xmlns:s="{NS_SOAP}" xmlns:a="{NS_ADDRESSING}" xmlns:x="{NS_TRANSFER}" '
    'xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" '
    'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
    f'xmlns:w="{NS_WSMAN}" xmlns:p="{NS_WSMAN_MS}"'
)


def new_message_id() -> str:
    """Windows writes its ids in upper case: ``uuid:2131383B-EFAE-...``."""
    return f"uuid:{str(uuid.uuid4()).upper()}"


def new_resource_id() -> str:
    """ShellId and CommandId values, upper-case GUIDs without the ``uuid:`` prefix."""
    return str(uuid.uuid4()).upper()


def _envelope(namespaces: str, action: str, relates_to: str, body: str) -> bytes:
    return (
        f'<s:Envelope xml:lang="en-US" {namespaces}><s:Header>'
        f"<a:Action>{escape(action)}</a:Action>"
        f"<a:MessageID>{new_message_id()}</a:MessageID>"
        f"<a:To>{ANONYMOUS}</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>"
        f"</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def response(request: WsmanRequest, body: str) -> bytes:
    """A success envelope: the action is the request's with ``Response`` appended."""
    return _envelope(_RESPONSE_NAMESPACES, request.action + "Response", request.message_id, body)


@dataclass(frozen=True)
class ShellInfo:
    """What a CreateResponse says about the new shell."""

    shell_id: str
    owner: str
    client_ip: str
    input_streams: str
    output_streams: str
    idle_timeout_seconds: float = 7200.0


def create_response(request: WsmanRequest, address: str, shell: ShellInfo) -> bytes:
    body = (
        f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{CMD_SHELL_URI}</w:ResourceURI><w:SelectorSet>"
        f'<w:Selector Name="ShellId">{shell.shell_id}</w:Selector>'
        "</w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>"
        f'<rsp:Shell xmlns:rsp="{NS_SHELL}"><rsp:ShellId>{shell.shell_id}</rsp:ShellId>'
        f"<rsp:ResourceUri>{CMD_SHELL_URI}</rsp:ResourceUri>"
        f"<rsp:Owner>{escape(shell.owner)}</rsp:Owner>"
        f"<rsp:ClientIP>{escape(shell.client_ip)}</rsp:ClientIP>"
        f"<rsp:IdleTimeOut>PT{shell.idle_timeout_seconds:.3f}S</rsp:IdleTimeOut>"
        f"<rsp:InputStreams>{escape(shell.input_streams)}</rsp:InputStreams>"
        f"<rsp:OutputStreams>{escape(shell.output_streams)}</rsp:OutputStreams>"
        "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>"
        "<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>"
    )
    return response(request, body)


def command_response(request: WsmanRequest, command_id: str) -> bytes:
    return response(
        request,
        f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>",
    )


def empty_response(request: WsmanRequest, element: str | None) -> bytes:
    """SendResponse / SignalResponse (``<rsp:X/>``) and DeleteResponse (empty body)."""
    return response(request, f"<rsp:{element}/>" if element else "")


@dataclass(frozen=True)
class StreamChunk:
    name: str  # "stdout" or "stderr"
    data: bytes
    end: bool = False


def receive_response(
    request: WsmanRequest,
    command_id: str,
    chunks: Sequence[StreamChunk],
    exit_code: int | None,
) -> bytes:
    """Output chunks, then the command's state: Running, or Done with its exit code.

    When the command is done, Windows closes each stream with an empty ``End="true"`` element
    before the CommandState (recorded in pypsrp's test_winrs_standard.yml).
    """
    parts = ["<rsp:ReceiveResponse>"]
    for chunk in chunks:
        end = ' End="true"' if chunk.end else ""
        data = b64encode(chunk.data).decode("ascii")
        parts.append(
            f'<rsp:Stream Name="{chunk.name}" CommandId="{command_id}"{end}>{data}</rsp:Stream>'
        )
    if exit_code is None:
        parts.append(f'<rsp:CommandState CommandId="{command_id}" State="{STATE_RUNNING}"/>')
    else:
        parts.append(
            f'<rsp:CommandState CommandId="{command_id}" State="{STATE_DONE}">'
            f"<rsp:ExitCode>{exit_code}</rsp:ExitCode></rsp:CommandState>"
        )
    parts.append("</rsp:ReceiveResponse>")
    return response(request, "".join(parts))


# --- faults ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WsmanFault:
    """A SOAP fault as the WinRM service writes it ([MS-WSMV] 2.2.4.43 WSManFault).

    ``wsman_code`` is the Code attribute of f:WSManFault (a Win32 or WinRM HRESULT as an
    unsigned number): pywinrm turns 2150858793 into WinRMOperationTimeoutError and every other
    fault into WSManFaultError. ``None`` leaves out the s:Detail element.
    """

    code: str  # s:Sender or s:Receiver
    subcode: str  # w:TimedOut, w:InvalidSelectors, ...
    reason: str
    wsman_code: int | None = None
    message: str | None = None
    fault_detail: str | None = None  # w:FaultDetail URI, when Windows sends one
    http_status: int = 500


def fault_envelope(fault: WsmanFault, relates_to: str, machine: str) -> bytes:
    detail = ""
    if fault.wsman_code is not None or fault.fault_detail:
        inner = (
            f"<w:FaultDetail>{escape(fault.fault_detail)}</w:FaultDetail>"
            if (fault.fault_detail)
            else ""
        )
        if fault.wsman_code is not None:
            inner += (
                f'<f:WSManFault xmlns:f="{NS_WSMAN_FAULT}" Code="{fault.wsman_code}" '
                f"Machine={quoteattr(machine)}><f:Message>"
                f"{escape(fault.message or fault.reason)}</f:Message></f:WSManFault>"
            )
        detail = f"<s:Detail>{inner}</s:Detail>"
    body = (
        f"<s:Fault><s:Code><s:Value>{escape(fault.code)}</s:Value><s:Subcode>"
        f"<s:Value>{escape(fault.subcode)}</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en-US">{escape(fault.reason)}</s:Text></s:Reason>'
        f"{detail}</s:Fault>"
    )
    return _envelope(_FAULT_NAMESPACES, ACTION_FAULT, relates_to, body)


# Faults with the texts and codes Windows sends. Sources: pywinrm's tests/test_exceptions.py
# (TimedOut, recorded from Server 2022), pypsrp's tests/responses/test_winrs_bad_cmd_id.yml
# (unknown command id), winrm4j's ShellCommand.java and Microsoft's Exchange Online docs
# (shell not found, same code 2150858843).
OPERATION_TIMED_OUT = WsmanFault(
    code="s:Receiver",
    subcode="w:TimedOut",
    reason="The WS-Management service cannot complete the operation within the time specified "
    "in OperationTimeout.  ",
    wsman_code=2150858793,
)
UNKNOWN_COMMAND_ID = WsmanFault(
    code="s:Sender",
    subcode="w:InvalidSelectors",
    reason="The WS-Management service cannot process the request because the request contained "
    "invalid selectors for the resource. ",
    wsman_code=2150858843,
    message="The Windows Remote Shell received a request to perform an operation on a command "
    "identifier that does not exist. Either the command has completed execution or the client "
    "specified an invalid command identifier. ",
    fault_detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
)


def shell_not_found(shell_id: str) -> WsmanFault:
    return WsmanFault(
        code="s:Sender",
        subcode="w:InvalidSelectors",
        reason="The WS-Management service cannot process the request because the request "
        "contained invalid selectors for the resource. ",
        wsman_code=2150858843,
        message=f"The request for the Windows Remote Shell with ShellId {shell_id} failed "
        "because the shell was not found on the server. Possible causes are: the specified "
        "ShellId is incorrect or the shell no longer exists on the server. Provide the correct "
        "ShellId or create a new shell and retry the operation. ",
    )


# Win32 ERROR_ACCESS_DENIED as the WSManFault code: what a host answers when the account may
# log on but not use the shell (a non-administrator, or a JEA endpoint).
ACCESS_DENIED = WsmanFault(
    code="s:Sender",
    subcode="w:AccessDenied",
    reason="Access is denied. ",
    wsman_code=5,
)


def schema_validation_error(detail: str) -> WsmanFault:
    """What the test double answers to a request it cannot read (the code of pywinrm's
    recorded SchemaValidationError sample, 0x80338041)."""
    return WsmanFault(
        code="s:Sender",
        subcode="w:SchemaValidationError",
        reason="The SOAP XML in the message does not match the corresponding XML schema "
        f"definition. Change the XML and retry. ({detail})",
        wsman_code=2150858817,
    )


def action_not_supported(action: str) -> WsmanFault:
    """An action this test double does not implement (WS-Addressing's ActionNotSupported;
    no WSManFault code: the double does not know which one Windows would give)."""
    return WsmanFault(
        code="s:Sender",
        subcode="a:ActionNotSupported",
        reason=f"The action {action} is not supported by this WS-Management test endpoint.",
    )


def destination_unreachable(resource_uri: str) -> WsmanFault:
    """A resource URI other than the cmd shell (DSP0226: wsa:DestinationUnreachable; no
    WSManFault code, as for action_not_supported)."""
    return WsmanFault(
        code="s:Sender",
        subcode="a:DestinationUnreachable",
        reason=f"The resource URI {resource_uri!r} is not served by this WS-Management test "
        "endpoint (only the cmd shell is).",
    )
