"""fleetpatch: an agentless patch manager with Patch Manager semantics over SSH and WinRM."""

__version__ = "0.1.0"
