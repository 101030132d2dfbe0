"""Inventory: models, loaders (our YAML, Ansible INI/YAML) and target selection."""
