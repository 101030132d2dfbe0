"""Per-host variants of the recorded scan output: a "varied fleet" for the benchmarks.

The uniform fleet answers every host with the same bytes (``recorded/debian12-scan.out``),
which flatters anything that caches by content (identical lines or packages parsed once per
run). :func:`variant` turns the recording into host ``i``'s own output, as a fleet built from
one image and patched at different times would answer:

* **removed packages**: 5-10 % of the installed packages (never ``required``/``important``
  ones) are absent, with everything that refers to them: their ``apt.installed`` row, their
  Inst/Conf lines and their name in the ``The following packages ...`` lists and in other
  Inst/Conf lines' brackets (``apt.simulate``), their ``apt.candidates`` and
  ``apt.security_versions`` lines. apt's summary line (``N upgraded, ... M not upgraded.``)
  is recomputed from the Inst lines, as fleetpatch's parser cross-checks it;
* **older packages**: ~5 % of the remaining packages, a whole source package at a time, are
  one or two steps older (``+deb12u5`` -> ``+deb12u4``/``+deb12u3``, ``+b13`` -> ``+b12``,
  ``2.6.1`` -> ``2.6.0``, ...; checked to sort lower in dpkg order). A package that already
  had a pending update keeps it, from its older version; the others get an Inst line (and a
  Conf line and a candidate) to the recorded version, so the update set differs too, except
  on ~10 % of hosts where one such source package is held instead ("kept back", counted as
  not upgraded). A package has at most two older versions across the fleet, as hosts of a
  real fleet share their few patch levels;
* **per-host facts**: ``boot`` (boot_id, PID 1 start ticks, boot time), the running kernel
  (``uname -r`` and ``apt.reboot``'s ``running``: the recorded one for ~70 % of hosts, an
  older patch level for the rest), the ``apt.lists`` stamps (scan time, last ``apt-get
  update``: up to 3 days old) and, for ~5 % of hosts, a pending reboot
  (``/var/run/reboot-required`` and its packages).

Everything else (os-release, indexes, the other rows) is the recording's, byte for byte: most
lines are shared across hosts, as in a real fleet. Deterministic: host ``i`` with seed ``s``
always gets the same bytes (``random.Random`` seeded with a string, independent of
``PYTHONHASHSEED``), so several server processes answer a host identically.

It uses fleetpatch's own dpkg version ordering (``fleetpatch.platforms.versions``, tested
against ``dpkg --compare-versions``); run it with fleetpatch's venv, as the harness does.

    .venv/bin/python benchmarks/variants.py --check 300      # parse 300 variants with fleetpatch
    .venv/bin/python benchmarks/variants.py --host 7         # print host 7's output
"""

from __future__ import annotations

import argparse
import functools
import random
import re
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetpatch.platforms.versions import compare_dpkg

HERE = Path(__file__).resolve().parent
RECORDED = HERE / "recorded" / "debian12-scan.out"

DROP_FRACTION = (0.05, 0.10)  # of the installed packages, per host (uniform in the range)
OLDER_FRACTION = (0.03, 0.07)  # of the remaining installed packages, by source package
HOLD_HOSTS = 0.10  # hosts where one older source package without an update is held
KERNEL_OLDER = ((0, 0.7), (3, 0.2), (7, 0.1))  # (patch levels older, share of hosts)
REBOOT_PENDING = 0.05
REBOOT_PACKAGES = ("libc6", "libssl3", "dbus", "systemd", "libgnutls30", "linux-base")
LISTS_MAX_AGE = 3 * 86400
KEEP_PRIORITIES = frozenset({"required", "important"})
APT_WIDTH = 80  # apt wraps its package lists for an 80-column terminal when not on a tty

_FRAME = re.compile(r"^@@FP@@ BEGIN (\S+)\n(.*?)^@@FP@@ END \1 (-?\d+)\n", re.M | re.S)
_SUMMARY = re.compile(
    r"^(?P<upgraded>\d+) upgraded, (?P<new>\d+) newly installed, "
    r"(?:(?P<reinstalled>\d+) reinstalled, )?(?:(?P<downgraded>\d+) downgraded, )?"
    r"(?P<remove>\d+) to remove and (?P<kept>\d+) not upgraded\.$"
)
_INST = re.compile(r"^Inst (?P<name>\S+)(?: \[(?P<old>[^\]]+)\])? \((?P<new>\S+) (?P<rest>.*)$")
_BRACKETS = re.compile(r"\[([^\]]*)\]")
_UPGRADED_HEADER = "The following packages will be upgraded:"
_KEPT_HEADER = "The following packages have been kept back:"


_SUFFIXES = (re.compile(r"\+deb\d+u(\d+)$"), re.compile(r"\+b(\d+)$"))
_TILDE_DEB = re.compile(r"~deb\d+u(\d+)$")
_DIGIT_RUN = re.compile(r"\d+")


def older_version(version: str) -> str:
    """One step older than ``version`` in dpkg order, looking like a real earlier version:
    a stable update (``+deb12u5`` -> ``+deb12u4``; ``+deb12u1`` -> without it), a binNMU
    (``+b3`` -> ``+b2``; ``+b1`` -> without it), else the last number of the revision (when
    >= 2) or of the upstream version lowered by one; ``~fp1`` appended as a last resort."""
    for pattern in _SUFFIXES:
        m = pattern.search(version)
        if m:
            n = int(m[1])
            return version[: m.start(1)] + str(n - 1) if n >= 2 else version[: m.start()]
    m = _TILDE_DEB.search(version)
    if m and int(m[1]) >= 2:
        return version[: m.start(1)] + str(int(m[1]) - 1)
    head = version[: m.start()] if m else version
    tail = version[m.start():] if m else ""
    epoch = head[: head.index(":") + 1] if ":" in head else ""
    body = head[len(epoch):]
    upstream, sep, revision = body.rpartition("-")
    if not sep:
        upstream, revision = body, ""
    candidate = None
    runs = list(_DIGIT_RUN.finditer(revision))
    if runs and int(runs[-1][0]) >= 2:
        r = runs[-1]
        candidate = f"{epoch}{upstream}-{revision[:r.start()]}{int(r[0]) - 1}{revision[r.end():]}"
    else:
        for r in reversed(list(_DIGIT_RUN.finditer(upstream))):
            if int(r[0]) >= 1:
                lowered = f"{upstream[:r.start()]}{int(r[0]) - 1}{upstream[r.end():]}"
                candidate = f"{epoch}{lowered}{sep}{revision}"
                break
    if candidate is not None:
        candidate += tail
        if compare_dpkg(candidate, version) < 0:
            return candidate
    return f"{version}~fp1"


def older_by(version: str, steps: int) -> str:
    for _ in range(steps):
        version = older_version(version)
    return version


# --------------------------------------------------------------------------- the recording


@dataclass
class _Row:
    line: str
    name: str  # without :arch
    fields: list[str]


@dataclass
class Recording:
    """The recorded output split once into sections; :meth:`variant` builds host outputs."""

    text: str
    pieces: list[tuple[str, str, str]] = field(default_factory=list)  # (name or "", body, rc)

    def __post_init__(self) -> None:
        pos = 0
        for m in _FRAME.finditer(self.text):
            if m.start() > pos:
                self.pieces.append(("", self.text[pos:m.start()], ""))
            self.pieces.append((m[1], m[2], m[3]))
            pos = m.end()
        self.pieces.append(("", self.text[pos:], ""))
        self.sections = {name: body for name, body, _ in self.pieces if name}
        for needed in ("apt.installed", "apt.simulate", "apt.candidates",
                       "apt.security_versions", "boot", "uname", "apt.reboot", "apt.lists"):
            if needed not in self.sections:
                raise ValueError(f"variants need an apt scan recording; no section {needed!r}")
        self.rows = []
        for line in _lines(self.sections["apt.installed"]):
            fields = line.split("\t")
            self.rows.append(_Row(line, fields[0].split(":", 1)[0], fields))
        self.sim = _lines(self.sections["apt.simulate"])
        self.inst_names = {m["name"].split(":", 1)[0] for m in map(_INST.match, self.sim) if m}
        self.security: dict[str, set[str]] = {}
        for line in _lines(self.sections["apt.security_versions"]):
            name, _, version = line.partition("\t")
            self.security.setdefault(name, set()).add(version)
        self.sources: dict[tuple[str, str], list[int]] = {}
        for k, row in enumerate(self.rows):
            src = row.fields[4] or row.name
            src_version = row.fields[5] or row.fields[1]
            self.sources.setdefault((src, src_version), []).append(k)
        self.main_origin, self.security_origin = self._origins()

    def _origins(self) -> tuple[str, str]:
        """``Label:Version/Archive`` tokens for new Inst lines, from the recording itself."""
        version = ""
        for line in _lines(self.sections.get("os-release", "")):
            if line.startswith("VERSION_ID="):
                version = line.split("=", 1)[1].strip('"')
        main = security = ""
        for line in _lines(self.sections.get("apt.indexes", "")):
            f = line.split("\t")
            if len(f) == 8 and f[0] == "present":
                token = f"{f[3]}:{version}/{f[4]}" if version else f"{f[3]}:{f[4]}"
                is_sec = any(v.lower().endswith("-security") for v in f[3:7])
                if is_sec and not security:
                    security = token
                elif not is_sec and not main:
                    main = token
        for m in map(_INST.match, self.sim):  # the recording's own token wins
            if m and "-security" in m["rest"].lower():
                security = m["rest"].split(" [", 1)[0].split(", ")[0]
                break
        return main or "Debian:stable", security or main or "Debian-Security:stable-security"

    # ----------------------------------------------------------------------- one host

    def variant(self, i: int, seed: int = 0) -> str:
        return self.generate(i, seed)[0]

    def generate(self, i: int, seed: int = 0) -> tuple[str, dict[str, Any]]:
        """Host ``i``'s output and what was changed (for checks and statistics)."""
        rng = random.Random(f"fleetpatch-variant:{seed}:{i}")
        rows = self.rows
        n = len(rows)
        eligible = [k for k, r in enumerate(rows) if r.fields[6] not in KEEP_PRIORITIES]
        drop_idx = set(rng.sample(eligible, min(len(eligible),
                                                round(n * rng.uniform(*DROP_FRACTION)))))
        kept_names = {rows[k].name for k in range(n) if k not in drop_idx}
        dropped = {rows[k].name for k in drop_idx} - kept_names

        # older versions, a source package at a time
        target = round((n - len(drop_idx)) * rng.uniform(*OLDER_FRACTION))
        groups = list(self.sources.items())
        rng.shuffle(groups)
        new_version: dict[int, tuple[str, str]] = {}  # row -> (version, source version)
        older_groups: list[list[int]] = []
        for (_src, src_version), members in groups:
            if len(new_version) >= target:
                break
            members = [k for k in members if k not in drop_idx]
            if not members or len(new_version) + len(members) > target + 2:
                continue
            steps = rng.choice((1, 2))
            new_src = older_by(src_version, steps)
            for k in members:
                version = rows[k].fields[1]
                if version == src_version:
                    lowered = new_src
                elif version.startswith(src_version):  # binNMU: SOURCE+bN
                    lowered = new_src + version[len(src_version):]
                else:
                    lowered = older_by(version, steps)
                if compare_dpkg(lowered, version) >= 0:  # never: older_version checks it
                    raise AssertionError(f"{lowered} !< {version}")
                new_version[k] = (lowered, new_src if rows[k].fields[5] else "")
            older_groups.append(members)
        older = {rows[k].name: v for k, v in new_version.items()}

        # the older packages that had no pending update get one (Inst line to the recorded
        # version), except on a few hosts where one source package is held (kept back)
        fresh = [[k for k in g if rows[k].name not in self.inst_names] for g in older_groups]
        fresh = [g for g in fresh if g]
        held_group: list[int] = []
        if fresh and rng.random() < HOLD_HOSTS:
            held_group = fresh.pop(rng.randrange(len(fresh)))
        added = [rows[k] for g in fresh for k in g]
        held = [rows[k].name for k in held_group]

        out: dict[str, str] = {}
        installed = []
        for k, row in enumerate(rows):
            if k in drop_idx:
                continue
            if k in new_version:
                f = list(row.fields)
                f[1], src_v = new_version[k]
                if src_v:
                    f[5] = src_v
                installed.append("\t".join(f))
            else:
                installed.append(row.line)
        out["apt.installed"] = _body(installed)
        out["apt.simulate"], upgrades = self._simulate(dropped, older, added, held)
        candidates = [ln for ln in _lines(self.sections["apt.candidates"])
                      if ln.split("\t", 1)[0] not in dropped]
        candidates += [f"{r.name}\t{r.fields[1]}\t{r.fields[2]}\t{r.fields[6]}\t{r.fields[7]}"
                       for r in added]
        out["apt.candidates"] = _body(candidates)
        out["apt.security_versions"] = _body(
            [ln for ln in _lines(self.sections["apt.security_versions"])
             if ln.split("\t", 1)[0] not in dropped])

        # per-host facts: boot, kernel, lists, reboot
        boot = _lines(self.sections["boot"])
        lists = dict(ln.split("\t", 1) for ln in _lines(self.sections["apt.lists"]))
        now = int(lists.get("now", "0")) + rng.randint(0, 900)
        if len(boot) == 3 and all(x.isdigit() for x in boot[1:]):
            boot_time = int(boot[2]) - rng.randint(0, 30 * 86400)
            ticks = max(1, round(int(boot[1]) * rng.uniform(0.5, 1.5)))
            out["boot"] = _body([str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                                 str(ticks), str(boot_time)])
        uname = _lines(self.sections["uname"])
        release = uname[0] if uname else ""
        back = rng.choices([b for b, _ in KERNEL_OLDER], [w for _, w in KERNEL_OLDER])[0]
        kernel = _older_kernel(release, back)
        if uname:
            out["uname"] = _body([kernel, *uname[1:]])
        age_shift = rng.randint(0, LISTS_MAX_AGE)
        new_lists = []
        for key, value in lists.items():
            if key == "now":
                new_lists.append(f"now\t{now}")
            elif value.isdigit():
                new_lists.append(f"{key}\t{int(value) - age_shift}")
            else:
                new_lists.append(f"{key}\t{value}")
        out["apt.lists"] = _body(new_lists)
        reboot = []
        pending = rng.random() < REBOOT_PENDING
        reboot_pkgs = [p for p in REBOOT_PACKAGES if p in kept_names]
        for line in _lines(self.sections["apt.reboot"]):
            key = line.split("\t", 1)[0]
            if key == "required" and pending:
                reboot.append("required\tyes")
                reboot += [f"pkg\t{p}" for p in rng.sample(reboot_pkgs,
                                                            min(len(reboot_pkgs), 2))]
            elif key == "running" and release:
                reboot.append(f"running\t{kernel}")
            else:
                reboot.append(line)
        out["apt.reboot"] = _body(reboot)

        text = "".join(
            f"@@FP@@ BEGIN {name}\n{out.get(name, body)}@@FP@@ END {name} {rc}\n" if name
            else body
            for name, body, rc in self.pieces
        )
        info: dict[str, Any] = {
            "dropped": sorted(dropped), "older": older, "added_updates": [r.name for r in added],
            "held": held, "installed": len(installed), "updates": upgrades,
            "kernel": kernel, "reboot_pending": pending,
        }
        return text, info

    def _simulate(self, dropped: set[str], older: dict[str, tuple[str, str]],
                  added: list[_Row], held: list[str]) -> tuple[str, int]:
        """apt.simulate without the dropped packages, with the older current versions, the
        new Inst/Conf lines and the held packages; the name lists and the summary redone."""
        lines: list[str] = []
        kept_back: list[str] = []
        header: str | None = None
        upgraded_at = summary_at = None
        last_inst = -1
        for line in self.sim:
            if header is not None and line.startswith("  "):
                if header == _KEPT_HEADER:
                    kept_back += line.split()
                elif header != _UPGRADED_HEADER:  # another list: drop the removed names
                    names = [t for t in line.split() if t.split(":", 1)[0] not in dropped]
                    if names:
                        lines.append("  " + " ".join(names))
                continue
            header = None
            if line.startswith("The following ") or line.startswith("Not upgrading yet"):
                header = line
                if line == _UPGRADED_HEADER:
                    upgraded_at = len(lines)
                    continue
                if line == _KEPT_HEADER:
                    continue
                lines.append(line)
                continue
            if _SUMMARY.match(line):
                summary_at = len(lines)
                lines.append(line)
                continue
            if line.startswith(("Inst ", "Conf ", "Remv ", "Purg ")):
                name = line.split(" ", 2)[1].split(":", 1)[0]
                if name in dropped:
                    continue
                end = line.rfind(")") + 1  # the dependency brackets follow the (...) group
                if dropped and "[" in line[end:]:
                    line = line[:end] + _BRACKETS.sub(lambda m: _strip_names(m, dropped),
                                                      line[end:])
                if line.startswith("Inst "):
                    m = _INST.match(line)
                    if m and m["old"] and name in older:
                        line = line.replace(f" [{m['old']}] ", f" [{older[name][0]}] ", 1)
                    last_inst = len(lines)
            lines.append(line)
        if summary_at is None:
            raise ValueError("apt.simulate has no summary line")
        new_inst, new_conf = [], []
        for r in added:
            origin = (self.security_origin if r.fields[1] in self.security.get(r.name, ())
                      else self.main_origin)
            name = r.name  # apt names native-architecture packages without ":arch"
            new_inst.append(f"Inst {name} [{older[r.name][0]}] ({r.fields[1]} {origin} "
                            f"[{r.fields[2]}])")
            new_conf.append(f"Conf {name} ({r.fields[1]} {origin} [{r.fields[2]}])")
        at = (last_inst + 1) if last_inst >= 0 else summary_at + 1
        lines[at:at] = new_inst
        lines += new_conf
        insts = [m for m in map(_INST.match, lines) if m]
        upgraded = sorted(m["name"] for m in insts if m["old"])
        recorded_kept = len(kept_back)
        kept_back = [n for n in kept_back if n.split(":", 1)[0] not in dropped]
        not_upgraded = int(_summary_of(self.sim)["kept"]) - (recorded_kept - len(kept_back))
        not_upgraded += len(set(held) - set(kept_back))
        kept_back = sorted(set(kept_back) | set(held))
        block: list[str] = []
        if kept_back:
            block += [_KEPT_HEADER, *_wrap(kept_back)]
        if upgraded:
            block += [_UPGRADED_HEADER, *_wrap(upgraded)]
        s = _SUMMARY.match(lines[summary_at])
        assert s is not None
        removals = sum(1 for ln in lines if ln.startswith(("Remv ", "Purg ")))
        parts = [f"{len(upgraded) - int(s['reinstalled'] or 0) - int(s['downgraded'] or 0)} "
                 f"upgraded", f"{sum(1 for m in insts if not m['old'])} newly installed"]
        if s["reinstalled"] is not None:
            parts.append(f"{s['reinstalled']} reinstalled")
        if s["downgraded"] is not None:
            parts.append(f"{s['downgraded']} downgraded")
        lines[summary_at] = (", ".join(parts) + f", {removals} to remove and "
                             f"{not_upgraded} not upgraded.")
        if upgraded_at is None:
            upgraded_at = summary_at
        lines[upgraded_at:upgraded_at] = block
        return _body(lines), len(insts)


def _summary_of(lines: list[str]) -> re.Match[str]:
    for line in lines:
        m = _SUMMARY.match(line)
        if m:
            return m
    raise ValueError("apt.simulate has no summary line")


def _strip_names(m: re.Match[str], dropped: set[str]) -> str:
    inner = m[1]
    if not inner.strip():
        return m[0]
    tokens = [t for t in inner.split() if t.split(":", 1)[0] not in dropped]
    return "[" + "".join(f"{t} " for t in tokens) + "]"


def _older_kernel(release: str, back: int) -> str:
    m = re.match(r"^(\d+)\.(\d+)\.(\d+)(.*)$", release)
    if not m or back == 0:
        return release
    return f"{m[1]}.{m[2]}.{max(0, int(m[3]) - back)}{m[4]}"


def _wrap(names: list[str]) -> list[str]:
    """Names as apt lists them: two spaces of indent, wrapped before column 80."""
    out: list[str] = []
    line = ""
    for name in names:
        if line and len(line) + 1 + len(name) >= APT_WIDTH:
            out.append(line)
            line = ""
        line = f"{line} {name}" if line else f"  {name}"
    if line:
        out.append(line)
    return out


def _lines(body: str) -> list[str]:
    """A section's lines (the framing adds one newline before END: not a line of the body)."""
    return body[:-1].splitlines() if body.endswith("\n") else body.splitlines()


def _body(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines) + "\n"


@functools.lru_cache(maxsize=4)
def recording(text: str) -> Recording:
    return Recording(text)


def variant(text: str, i: int, seed: int = 0) -> str:
    """Host ``i``'s variant of the recorded scan output ``text`` (deterministic)."""
    return recording(text).variant(i, seed)


def write_variants(directory: Path, count: int, recorded: Path = RECORDED,
                   seed: int = 0) -> list[Path]:
    """Write hosts 1..count's variants to ``directory/<host address>.out`` (the address of
    host ``i`` is ``fleet.host_address(i)``: 127.0.0.1, ...)."""
    from fleet import host_address

    rec = recording(recorded.read_text())
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(1, count + 1):
        path = directory / f"{host_address(i)}.out"
        path.write_text(rec.variant(i, seed))
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- the check


def check(count: int, recorded: Path, seed: int, memo: bool = False) -> int:
    """Generate ``count`` variants, parse and evaluate each with fleetpatch, print statistics.

    ``memo``: also parse every variant with one shared run memo (``fleetpatch.memo``, when
    ``parse_scan_output`` takes one) and require the same facts as without it.
    """
    import inspect
    import statistics
    import time
    from datetime import UTC, datetime

    from fleetpatch.baseline.evaluate import evaluate_baseline
    from fleetpatch.engine.context import load_baseline_choice
    from fleetpatch.inventory.model import Host
    from fleetpatch.platforms.scan import parse_scan_output

    text = recorded.read_text()
    rec = Recording(text)
    if rec._simulate(set(), {}, [], [])[0] != rec.sections["apt.simulate"]:
        raise AssertionError("apt.simulate rebuilt without changes differs from the recording")
    base_installed = set(_lines(rec.sections["apt.installed"]))
    base_lines = set(text.splitlines())
    choose = load_baseline_choice(patch_groups=None)
    now = datetime.now(UTC)
    run_memo = None
    if memo:
        if "memo" not in inspect.signature(parse_scan_output).parameters:
            print("--memo: this fleetpatch's parse_scan_output takes no memo", file=sys.stderr)
            return 2
        from fleetpatch.memo import RunMemo

        run_memo = RunMemo()
    outputs: set[str] = set()
    shared_installed, shared_lines, sizes, updates, installed_n, held_n = [], [], [], [], [], []
    statuses: dict[str, int] = {}
    all_installed: set[str] = set()
    gen = 0.0
    for i in range(1, count + 1):
        t0 = time.perf_counter()
        out, info = rec.generate(i, seed)
        gen += time.perf_counter() - t0
        if rec.generate(i, seed)[0] != out:
            raise AssertionError(f"host {i}: not deterministic")
        for name, (version, _src) in info["older"].items():
            row = next(r for r in rec.rows if r.name == name)
            if compare_dpkg(version, row.fields[1]) >= 0:
                raise AssertionError(f"host {i}: {name} {version} is not older than "
                                     f"{row.fields[1]} for fleetpatch")
        facts = parse_scan_output(out, host=f"h{i:05d}", collected_at=now)
        if run_memo is not None:
            memoised = parse_scan_output(out, host=f"h{i:05d}", collected_at=now, memo=run_memo)
            if memoised.model_dump() != facts.model_dump():
                raise AssertionError(f"host {i}: facts differ with the run memo")
        host = Host(name=f"h{i:05d}", address=f"127.0.0.{i % 250 + 1}")
        compliance = evaluate_baseline(facts, choose(host, facts.os), now=now)
        if len(facts.installed) != info["installed"] or len(facts.updates) != info["updates"]:
            raise AssertionError(f"host {i}: parsed {len(facts.installed)} installed, "
                                 f"{len(facts.updates)} updates; expected {info}")
        if not compliance.items or not compliance.counts:
            raise AssertionError(f"host {i}: empty compliance {compliance}")
        statuses[str(compliance.status)] = statuses.get(str(compliance.status), 0) + 1
        outputs.add(out)
        inst = _lines(Recording(out).sections["apt.installed"])
        all_installed.update(inst)
        shared_installed.append(sum(ln in base_installed for ln in inst) / len(inst))
        lines = out.splitlines()
        shared_lines.append(sum(ln in base_lines for ln in lines) / len(lines))
        sizes.append(len(out.encode()))
        updates.append(len(facts.updates))
        installed_n.append(len(facts.installed))
        held_n.append(len(info["held"]))
    base = len(text.encode())
    print(f"{count} variants of {recorded.name} (seed {seed}), all parsed and evaluated")
    print(f"  distinct outputs: {len(outputs)} of {count}")
    print(f"  apt.installed lines shared with the recording: mean "
          f"{statistics.mean(shared_installed):.1%} (min {min(shared_installed):.1%}, max "
          f"{max(shared_installed):.1%}); distinct apt.installed lines in the fleet: "
          f"{len(all_installed)} (recording: {len(base_installed)})")
    print(f"  all lines shared with the recording: mean {statistics.mean(shared_lines):.1%}")
    print(f"  size: mean {statistics.mean(sizes):,.0f} bytes = "
          f"{statistics.mean(sizes) / base:.3f} x the recording ({base:,}); min {min(sizes):,},"
          f" max {max(sizes):,}")
    print(f"  installed packages: {min(installed_n)}-{max(installed_n)} (recording "
          f"{len(rec.rows)}); updates: {min(updates)}-{max(updates)}, mean "
          f"{statistics.mean(updates):.1f} (recording {len(rec.inst_names)}); hosts with held "
          f"packages: {sum(1 for h in held_n if h)}")
    print(f"  compliance status: {statuses}")
    print(f"  generation: {gen / count * 1000:.2f} ms per variant")
    if run_memo is not None:
        print(f"  with one run memo: same facts for all {count}; memo tables "
              f"{run_memo.sizes()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="per-host variants of the recorded scan")
    parser.add_argument("--recorded", type=Path, default=RECORDED)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--host", type=int, help="print this host's output")
    parser.add_argument("--check", type=int, metavar="N",
                        help="generate, parse and evaluate N variants (needs fleetpatch)")
    parser.add_argument("--memo", action="store_true",
                        help="with --check: also parse with one shared fleetpatch run memo and "
                             "compare the facts")
    args = parser.parse_args()
    if args.host is not None:
        sys.stdout.write(variant(args.recorded.read_text(), args.host, args.seed))
        return 0
    return check(args.check or 300, args.recorded, args.seed, args.memo)


if __name__ == "__main__":
    sys.exit(main())
