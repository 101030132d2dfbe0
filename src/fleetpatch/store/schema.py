"""The current store schema (SQLAlchemy Core tables).

This describes the schema *after* every migration in :mod:`fleetpatch.store.migrations` has
run. Changing it needs a new migration step; ``tests/unit/store/test_migrations.py`` fails when
the migrated database and this module disagree.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from fleetpatch.store.rows import COUNT_COLUMNS
from fleetpatch.store.types import UtcDateTime

metadata = MetaData()


runs = Table(
    "runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("operation", String(32), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("inventory", JSON, nullable=False),
    Column("targets", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("options", JSON, nullable=True),
    Column("cancelled", Boolean, nullable=False, default=False),
    Column("controller", String(255), nullable=True),
    Column("heartbeat_at", UtcDateTime(), nullable=True),
    Column("targeted_hosts", Integer, nullable=True),
    Index("ix_runs_started_at", "started_at"),
)

facts_blobs = Table(
    "facts_blobs",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("raw_size", Integer, nullable=False),
)

host_results = Table(
    "host_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("address", String(255), nullable=False),
    Column("patch_group", String(256), nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("failure_kind", String(32), nullable=True),
    Column("failure_message", Text, nullable=True),
    Column("failure_step", String(255), nullable=True),
    Column("platform_product", String(64), nullable=True),
    Column("platform_family", String(16), nullable=True),
    Column("baseline", String(255), nullable=True),
    Column("compliance_status", String(16), nullable=True),
    Column("overall_severity", String(16), nullable=True),
    *(Column(name, Integer, nullable=False, default=0) for name in COUNT_COLUMNS),
    Column("reboot_required", Boolean, nullable=True),
    Column("metadata_age_seconds", Integer, nullable=True),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=False),
    Column("other_items", LargeBinary, nullable=True),
    Column("facts", LargeBinary, nullable=True),
    Column("installed_digest", String(64), ForeignKey("facts_blobs.digest"), nullable=True),
    Column("install_summary", JSON, nullable=True),
    UniqueConstraint("run_id", "seq", name="uq_host_results_run_seq"),
    Index("ix_host_results_host_finished", "host", "finished_at"),
)

patch_states = Table(
    "patch_states",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "host_result_id",
        Integer,
        ForeignKey("host_results.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("position", Integer, nullable=False),
    Column("patch_id", String(255), nullable=False),
    Column("arch", String(32), nullable=False),
    Column("title", Text, nullable=False),
    Column("installed_version", String(255), nullable=True),
    Column("candidate_version", String(255), nullable=True),
    Column("state", String(32), nullable=False),
    Column("classification", String(64), nullable=True),
    Column("severity", String(64), nullable=True),
    Column("compliance_level", String(16), nullable=False),
    Column("security", Boolean, nullable=False),
    Column("cves", JSON, nullable=False),
    Column("advisory_ids", JSON, nullable=False),
    Column("reason", Text, nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_patch_states_host_result", "host_result_id", "position"),
    Index("ix_patch_states_patch_id", "patch_id"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column(
        "host_result_id",
        Integer,
        ForeignKey("host_results.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("position", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("exit_code", Integer, nullable=True),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("duration", Float, nullable=False),
    Index("ix_audit_run_id", "run_id"),
    Index("ix_audit_host_started", "host", "started_at"),
    Index("ix_audit_host_result", "host_result_id", "position"),
)

rollouts = Table(
    "rollouts",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("plan", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("controller", String(255), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

rollout_hosts = Table(
    "rollout_hosts",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("batch", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_rollout_hosts_run_batch", "run_id", "batch", "position"),
)

host_leases = Table(
    "host_leases",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("holder", String(255), nullable=False),
    Column("acquired_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)
