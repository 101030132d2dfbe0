"""Playbooks: one YAML file that declares a scan or a rolling install (docs/playbooks.md)."""

from fleetpatch.playbook.loader import load_playbook
from fleetpatch.playbook.model import Hooks, Playbook, RolloutSettings, Timeouts, WindowSettings

__all__ = ["Hooks", "Playbook", "RolloutSettings", "Timeouts", "WindowSettings", "load_playbook"]
