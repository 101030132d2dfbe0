"""Platforms: detection, remote script rendering and per-family parsers."""
