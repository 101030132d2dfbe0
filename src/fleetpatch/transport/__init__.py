"""Transports: a narrow protocol (connect, run, close) with SSH and WinRM implementations."""
