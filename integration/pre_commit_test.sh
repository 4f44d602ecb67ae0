#!/usr/bin/env bash
# The repository's .pre-commit-hooks.yaml, used by the real pre-commit (from PyPI) the way a user's
# repository uses it: a project with a .pre-commit-config.yaml naming a clone of this repository
# and its HEAD, a denied Service and a compliant one. `pre-commit run --all-files` must fail naming
# cmek-required; with only the compliant Service it must pass.
#
# usage: integration/pre_commit_test.sh [HOOK_ID]     (from anywhere; needs git and pre-commit)
#   cmek-gate-system (default): the `language: system` hook, with target/debug/cmek-gate on PATH
#                               (build it first: cargo build).
#   cmek-gate:                  the `language: rust` hook: pre-commit runs `cargo install --path .`
#                               on the clone, a release build from scratch (3.5 minutes on 2 cores
#                               with the crates already downloaded; needs crates.io otherwise).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
hook=${1:-cmek-gate-system}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export GIT_AUTHOR_NAME=pre-commit-test GIT_AUTHOR_EMAIL=pre-commit-test@example.invalid
export GIT_COMMITTER_NAME=pre-commit-test GIT_COMMITTER_EMAIL=pre-commit-test@example.invalid
export PRE_COMMIT_HOME="$work/pre-commit-cache" # a fresh cache: nothing from an earlier run
if [ "$hook" = cmek-gate-system ]; then
  if [ ! -x "$root/target/debug/cmek-gate" ]; then
    echo "build the binary first (cargo build): $root/target/debug/cmek-gate is missing" >&2
    exit 2
  fi
  export PATH="$root/target/debug:$PATH"
fi

# The hook repository: a clone of this one at HEAD. The working tree's hook definition is
# committed on top when it differs, so the definition being changed is the one tested.
git clone --quiet --no-hardlinks "$root" "$work/hooks"
cp "$root/.pre-commit-hooks.yaml" "$work/hooks/.pre-commit-hooks.yaml"
git -C "$work/hooks" add .pre-commit-hooks.yaml
git -C "$work/hooks" diff --cached --quiet || git -C "$work/hooks" commit --quiet -m "hook definition under test"
rev=$(git -C "$work/hooks" rev-parse HEAD)

# The user's project.
project="$work/project"
mkdir -p "$project/services"
git -C "$project" init --quiet
cat >"$project/.pre-commit-config.yaml" <<EOF
repos:
  - repo: $work/hooks
    rev: $rev
    hooks:
      - id: $hook
EOF
cp "$root/examples/service.yaml" "$project/services/payments-api.yaml"
cp "$root/examples/service-compliant.yaml" "$project/services/compliant.yaml"
git -C "$project" add -A
git -C "$project" commit --quiet -m "a denied Service and a compliant one"

run() { (cd "$project" && pre-commit run --all-files --color never) >"$work/out" 2>&1; }

echo "== pre-commit ($hook): a denied Service and a compliant one: must fail naming cmek-required"
if run; then
  cat "$work/out"
  echo "FAIL: pre-commit passed with a denied Service" >&2
  exit 1
fi
cat "$work/out"
grep -q 'error\[cmek-required\]' "$work/out" || { echo "FAIL: the output does not name cmek-required" >&2; exit 1; }
grep -q 'services/payments-api.yaml' "$work/out" || { echo "FAIL: the output does not name the file" >&2; exit 1; }

echo "== pre-commit ($hook): only the compliant Service: must pass"
git -C "$project" rm --quiet services/payments-api.yaml
git -C "$project" commit --quiet -m "only the compliant Service"
if ! run; then
  cat "$work/out"
  echo "FAIL: pre-commit failed with only a compliant Service" >&2
  exit 1
fi
cat "$work/out"
grep -q 'Passed' "$work/out" || { echo "FAIL: the hook did not run (no Passed line)" >&2; exit 1; }

echo "== pre-commit ($hook): the denied Service hidden, with an upper-case extension: must fail"
mkdir -p "$project/services/.hidden"
cp "$root/examples/service.yaml" "$project/services/.hidden/payments-api.YAML"
git -C "$project" add -A
git -C "$project" commit --quiet -m "a denied Service where a case-sensitive filter would miss it"
if run; then
  cat "$work/out"
  echo "FAIL: pre-commit passed with a denied Service in services/.hidden/payments-api.YAML" >&2
  exit 1
fi
cat "$work/out"
grep -q 'services/.hidden/payments-api.YAML' "$work/out" || { echo "FAIL: the output does not name the file" >&2; exit 1; }
echo "pre-commit hook $hook: ok"
