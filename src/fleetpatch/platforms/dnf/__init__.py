"""dnf/yum platform (RHEL, Rocky, Alma, Oracle, CentOS, Amazon Linux)."""
