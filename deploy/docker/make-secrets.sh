#!/usr/bin/env bash
# Writes the secrets compose.yaml reads (deploy/docker/secrets/, ignored by git): the server
# secret every node shares, PostgreSQL's password and the database URL made of it.
# Kubernetes takes the same files: see deploy/README.md.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
chmod 700 "$dir"   # only you reach them on the host; inside, the containers' users read them
umask 022
[ -s "$dir/server-secret" ] || head -c 32 /dev/urandom | base64 >"$dir/server-secret"
[ -s "$dir/postgres-password" ] || head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$dir/postgres-password"
printf 'postgres://idp:%s@postgres:5432/idp\n' "$(cat "$dir/postgres-password")" >"$dir/database-url"
chmod 644 "$dir"/*
echo "secrets in $dir: server-secret, postgres-password, database-url"
