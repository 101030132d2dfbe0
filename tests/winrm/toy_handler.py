"""A toy command handler: just enough of a shell to test the endpoint itself.

It is not cmd.exe and not PowerShell. It understands (with or without a leading ``cmd /c``):

    echo TEXT         TEXT and CRLF on stdout
    exit N            exit code N (also ``exit /b N``)
    stderr TEXT       TEXT on stderr, exit code 1
    cat               copies stdin to stdout as it arrives, until the client sends End
    sleep S           waits S seconds (Ctrl+C or terminate stop it: exit code 0xC000013A)
    trickle N S       N lines, one every S seconds
    big N             N bytes of stdout (``big_output(N)``, a fixed pattern)
    unicode           ``UNICODE_SAMPLE`` on stdout, in the shell's code page
    reboot S [A]      prints a line, exits 0; A seconds later (default 1) the host goes down
                      for S seconds
    powershell -EncodedCommand B64   writes the decoded script back on stdout
    powershell ... -Command -        writes stdin back on stdout once the client sends End

Anything else gets cmd.exe's "is not recognized" message and exit code 1.
"""

from __future__ import annotations

from tests.winrm.process import CTRL_C_EXIT, CommandRequest, RemoteProcess

# Characters that sort code pages apart: all of them exist in UTF-8; 'ü', 'é', 'ß' in both
# cp437 and cp850 (0x81, 0x82, 0xE1); 'Ø' only in cp850 (0x9D); '€' and '✓' in neither.
UNICODE_SAMPLE = "Grüße café Ø € ✓"


def big_output(size: int) -> bytes:
    """``size`` bytes of numbered CRLF lines; each line differs, so a lost or repeated chunk
    shows."""
    lines = []
    total = 0
    number = 0
    while total < size:
        line = f"line {number:08d} of the big output 0123456789abcdefghijklmnopqrstuvwxyz\r\n"
        lines.append(line)
        total += len(line)
        number += 1
    return "".join(lines).encode("ascii")[:size]


def _drop_words(line: str, count: int) -> str:
    """The line without its first ``count`` words (the spacing of the rest kept)."""
    parts = line.split(None, count)
    return parts[count] if len(parts) > count else ""


class ToyShellHandler:
    """A CommandHandler that understands the toy commands above."""

    def run(self, request: CommandRequest, process: RemoteProcess) -> int:
        script = request.powershell_script
        if script is not None:
            process.write(script)
            return 0
        line = request.command_line
        words = line.split()
        if len(words) >= 2 and words[0].lower() in ("cmd", "cmd.exe") and words[1].lower() == "/c":
            line = _drop_words(line, 2)
            words = words[2:]
        if request.program in ("powershell", "pwsh") and words[-1:] == ["-"]:
            process.write(process.read_all_stdin())
            return 0
        if not words:
            return 0
        verb, rest, text = words[0].lower(), words[1:], _drop_words(line, 1)
        match verb:
            case "echo":
                process.write(text + "\r\n")
                return 0
            case "exit":
                numbers = [w for w in rest if w.lower() != "/b"]
                return int(numbers[0]) if numbers else 0
            case "stderr":
                process.write(text + "\r\n", "stderr")
                return 1
            case "cat":
                while (chunk := process.read_stdin()) is not None:
                    process.write(chunk)
                return 0
            case "sleep":
                return 0 if process.sleep(float(rest[0])) else CTRL_C_EXIT
            case "trickle":
                for number in range(int(rest[0])):
                    if number and not process.sleep(float(rest[1])):
                        return CTRL_C_EXIT
                    process.write(f"tick {number}\r\n")
                return 0
            case "big":
                process.write(big_output(int(rest[0])))
                return 0
            case "unicode":
                process.write(UNICODE_SAMPLE + "\r\n")
                return 0
            case "reboot":
                process.write("The system is going down for a restart.\r\n")
                # the delay leaves the client time to close its shell, as `shutdown /r /t`
                process.host.reboot(float(rest[0]), after=float(rest[1]) if rest[1:] else 1.0)
                return 0
        process.write(
            f"'{words[0]}' is not recognized as an internal or external command,\r\n"
            "operable program or batch file.\r\n",
            "stderr",
        )
        return 1
