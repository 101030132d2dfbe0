"""zypper platform (SLES, openSUSE Leap)."""
