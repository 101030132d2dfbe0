"""The command line that runs a PowerShell script sent on stdin, whatever its length.

pywinrm's ``run_ps`` puts the whole script, UTF-16 and base64-encoded, on the command line:
cmd.exe refuses a line over 8191 characters, so a script over ~3 KB fails ("The command line
is too long."). Instead fleetpatch runs this small bootstrap as ``-EncodedCommand`` (about
1 KB on the line) and sends the real script on stdin, in chunks, as UTF-8 bytes; the
bootstrap reads stdin to its end as raw bytes, decodes them as UTF-8 itself (no console code
page is involved on the way in) and runs the text as a script block. Its output is written
with a UTF-8 console encoding; every fleetpatch script also escapes non-ASCII characters in
its JSON records, so what it prints reads the same in any console code page.

The transport runs :data:`POWERSHELL_FROM_STDIN` like any command line: it knows nothing of
PowerShell (:mod:`fleetpatch.transport.winrm`).
"""

from __future__ import annotations

import base64

BOOTSTRAP = """\
$ErrorActionPreference = 'Stop'
try { [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch { }
$fpInput = [Console]::OpenStandardInput()
$fpBuffer = New-Object System.IO.MemoryStream
$fpInput.CopyTo($fpBuffer)
$fpText = [System.Text.Encoding]::UTF8.GetString($fpBuffer.ToArray())
if ($fpText.Length -gt 0 -and $fpText[0] -eq [char]0xFEFF) { $fpText = $fpText.Substring(1) }
Remove-Variable fpInput, fpBuffer
& ([scriptblock]::Create($fpText))
"""
"""Reads the script from stdin and runs it (a terminating error ends powershell.exe with exit
code 1 and the error on stderr)."""


def encoded_command(script: str) -> str:
    """``script`` as PowerShell's ``-EncodedCommand`` takes it: base64 of UTF-16LE."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


POWERSHELL_FROM_STDIN = (
    "powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass "
    f"-EncodedCommand {encoded_command(BOOTSTRAP)}"
)
"""The command line of every fleetpatch script on Windows (the script goes on stdin)."""
