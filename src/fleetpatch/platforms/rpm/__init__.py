"""Helpers shared by the rpm families (dnf/yum, zypper): rpm database, kernels, metadata."""
