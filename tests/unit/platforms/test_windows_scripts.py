"""The Windows scripts: every rendered script parses as PowerShell (tree-sitter-powershell),
values are quoted, and the record fields the scripts write are the ones the parser requires
and the test emulator prints (the three cannot drift apart)."""

from __future__ import annotations

import json
import re

import pytest
import tree_sitter
import tree_sitter_powershell

from fleetpatch.engine.detached import JobSpec
from fleetpatch.errors import InputError
from fleetpatch.platforms.render import ps_quote
from fleetpatch.platforms.windows.install import UpdateTarget, install_script
from fleetpatch.platforms.windows.jobs import WindowsJobs
from fleetpatch.platforms.windows.markers import read_marker
from fleetpatch.platforms.windows.records import RECORD_FIELDS
from fleetpatch.platforms.windows.scripts import (
    boot_identity_script,
    hook_script,
    pending_reboot_script,
    reboot_script,
    scan_script,
)

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
IDS = ["8d8a6a54-3b6e-4f3a-9a58-0f6b1a5f6a01", "0f3a9b2c-5d6e-4f70-8192-a3b4c5d6e706"]
NASTY = "Write-Output 'it''s' ; $env:X = \"a`b\" # ‘quoted’ ’ $(whoami) \r\n @'\n'@"


def all_scripts() -> dict[str, str]:
    job = install_script([UpdateTarget(i, "KB1", "t", "1", True) for i in IDS])
    jobs = WindowsJobs()
    return {
        "scan": scan_script(),
        "boot-identity": boot_identity_script(),
        "pending-reboot": pending_reboot_script(),
        "reboot": reboot_script(delay=5),
        "hook": hook_script(NASTY),
        "install": job,
        "job-start": jobs.start(JobSpec("fp-0123abcd", job, "meta ‘x’")),
        "job-attach": jobs.attach("fp-0123abcd", offset=12),
        "job-cleanup": jobs.cleanup("fp-0123abcd"),
    }


def syntax_errors(script: str) -> list[str]:
    source = script.encode("utf-8")
    found: list[str] = []

    def walk(node: tree_sitter.Node) -> None:
        if node.type == "ERROR" or node.is_missing:
            line = node.start_point[0] + 1
            text = source[node.start_byte : node.end_byte][:60].decode("utf-8", "replace")
            found.append(f"line {line}: {node.type} {text!r}")
        for child in node.children:
            walk(child)

    walk(PARSER.parse(source).root_node)
    return found


@pytest.mark.parametrize(("name", "script"), sorted(all_scripts().items()))
def test_every_script_parses_as_powershell(name: str, script: str) -> None:
    assert syntax_errors(script) == [], name


def test_the_grammar_check_catches_a_broken_script() -> None:
    broken = scan_script().replace("foreach ($update in $available.Updates) {", "foreach (", 1)
    assert syntax_errors(broken)


@pytest.mark.parametrize(
    "value", ["plain", "it's", "‘smart’ and ’ and ‚ and ‛", "$(Remove-Item C:\\)", "`n\r\n@'", ""]
)
def test_ps_quote_keeps_any_text_one_literal(value: str) -> None:
    quoted = ps_quote(value)
    tree = PARSER.parse(f"$x = {quoted}".encode())
    assert not tree.root_node.has_error
    strings = [
        n
        for n in _nodes(tree.root_node)
        if n.type in ("verbatim_string_characters", "string_literal")
    ]
    assert strings, quoted
    body = quoted[1:-1]
    for quote in "'‘’‚‛":
        body = body.replace(quote * 2, "")
        assert quote not in body, f"an undoubled {quote!r} in {quoted!r}"


def test_ps_quote_refuses_nul() -> None:
    with pytest.raises(InputError):
        ps_quote("a\x00b")


def _nodes(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    out = [node]
    for child in node.children:
        out += _nodes(child)
    return out


def test_hook_command_reaches_the_host_verbatim() -> None:
    assert read_marker(hook_script(NASTY)).params["command"] == NASTY


def written_fields() -> dict[str, set[str]]:
    """Record type -> the keys the templates write for it (``Write-FpRecord 'type' @{...}``,
    found with the grammar; a record built by a helper function is looked up there)."""
    fields: dict[str, set[str]] = {}
    helpers: dict[str, set[str]] = {}
    for script in all_scripts().values():
        tree = PARSER.parse(script.encode())
        source = script.encode()
        for node in _nodes(tree.root_node):
            if node.type == "function_statement":
                name = source[node.start_byte : node.end_byte].split()[1].decode()
                tables = [n for n in _nodes(node) if n.type == "hash_literal_expression"]
                if tables:
                    helpers[name] = _keys(tables[-1], source)
        for match in re.finditer(r"Write-FpRecord '([a-z_]+)' (@\{|\((Get-Fp\w+))", script):
            kind = match.group(1)
            if match.group(3):
                fields.setdefault(kind, set()).update(helpers.get(match.group(3), set()))
                continue
            start = len(script[: match.start(2)].encode())
            table = _table_at(tree.root_node, start)
            fields.setdefault(kind, set()).update(_keys(table, source))
    return fields


def _table_at(root: tree_sitter.Node, start: int) -> tree_sitter.Node:
    for node in _nodes(root):
        if node.type == "hash_literal_expression" and node.start_byte == start:
            return node
    raise AssertionError(f"no hashtable at byte {start}")


def _keys(table: tree_sitter.Node, source: bytes) -> set[str]:
    keys = set()
    for node in _nodes(table):
        if node.type == "hash_entry" and node.parent is not None:
            # only the table's own entries, not those of a nested table
            owner = node.parent
            while owner.type != "hash_literal_expression":
                owner = owner.parent  # type: ignore[assignment]
            if owner.start_byte == table.start_byte:
                key = node.children[0]
                keys.add(source[key.start_byte : key.end_byte].decode().strip())
    return keys


def test_the_scripts_write_exactly_the_fields_the_parser_requires() -> None:
    written = written_fields()
    for kind, keys in written.items():
        assert kind in RECORD_FIELDS, f"the scripts write a {kind!r} record the parser refuses"
        assert keys == set(RECORD_FIELDS[kind]), kind
    assert set(RECORD_FIELDS) - set(written) == set(), "records no script writes"


def test_the_emulator_refuses_to_print_other_fields() -> None:
    """Every record the emulator prints goes through this check (tests/winrm)."""
    from tests.winrm.windows_host import record

    fields = dict.fromkeys(RECORD_FIELDS["result"], "")
    assert json.loads(record("result", **fields))["t"] == "result"
    with pytest.raises(AssertionError, match="contract"):
        record("result", **{**fields, "extra": 1})
    with pytest.raises(AssertionError, match="contract"):
        record("boot", last_boot="x")
