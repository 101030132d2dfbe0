"""apt platform (Debian, Ubuntu)."""
