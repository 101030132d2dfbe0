"""The ``kind: ec2`` inventory source: EC2 instances discovered through boto3 (see
docs/inventory-ec2.md). Entry point: :func:`fleetpatch.inventory.ec2.source.resolve_sources`."""
