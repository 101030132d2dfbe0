#!/bin/sh
# Build step for fleetpatch-lab/postgres, run inside a container of
# fleetpatch-lab/base:bookworm.
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)

apt-get -q -o Dpkg::Use-Pty=0 update
apt-get -q -o Dpkg::Use-Pty=0 install -y --no-install-recommends postgresql-15
apt-get clean
rm -rf /var/lib/apt/lists/*

conf=/etc/postgresql/15/main
cat >> "$conf/postgresql.conf" <<'CONF'

# fleetpatch lab
listen_addresses = '*'
port = 5432
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
cat > "$conf/pg_hba.conf" <<'HBA'
# fleetpatch lab: password auth from anywhere, trust on the local socket
local   all   all                 trust
host    all   all   0.0.0.0/0     md5
host    all   all   ::/0          md5
HBA

pg_ctlcluster 15 main start
su postgres -c "psql -v ON_ERROR_STOP=1 -q" <<'SQL'
CREATE ROLE fleetpatch LOGIN PASSWORD 'fleetpatch' CREATEDB;
CREATE DATABASE fleetpatch OWNER fleetpatch;
SQL
pg_ctlcluster 15 main stop

install -m 0755 "$here/pg-init" /usr/local/sbin/pg-init
rm -rf "$here"
