#!/usr/bin/env bash
# Infrastructure checks, offline: terraform fmt, validate and test (mocked
# AWS provider) for the module and each example, and cfn-lint on the stack.
# Run by `make infra` (part of `make test`). Needs terraform >= 1.11 with the
# AWS provider in a filesystem mirror (TF_PLUGIN_DIR, default /opt/tf-plugins)
# and cfn-lint; fails, naming the tool, when one is missing.
set -euo pipefail
cd "$(dirname "$0")"

for tool in terraform cfn-lint; do
	command -v "$tool" >/dev/null || { echo "deploy/check.sh: $tool is missing" >&2; exit 1; }
done
# Terraform runs in a copy of the module, so that lock files, provider links
# and test state stay out of the tree; a TF_CLI_CONFIG_FILE naming a missing
# file cannot get in the way.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: >"$work/terraformrc"
mkdir "$work/tree"
cp -R terraform "$work/tree/"
rm -rf "$work"/tree/terraform/.terraform "$work"/tree/terraform/.terraform.lock.hcl "$work"/tree/terraform/examples/*/.terraform*
export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
unset TF_DATA_DIR TF_WORKSPACE

# override_during in the tests' mock providers arrived in Terraform 1.11.
version=$(terraform version | sed -n '1s/^Terraform v//p')
if [ "$(printf '%s\n' 1.11.0 "$version" | sort -V | head -n1)" != 1.11.0 ]; then
	echo "deploy/check.sh: terraform $version is too old; the module's tests need 1.11 or later" >&2
	exit 1
fi
plugins=${TF_PLUGIN_DIR:-/opt/tf-plugins}
[ -d "$plugins" ] || { echo "deploy/check.sh: no terraform provider mirror at $plugins (set TF_PLUGIN_DIR)" >&2; exit 1; }

terraform fmt -check -recursive -diff terraform

# Each directory is checked in its own process (the provider plugin start
# dominates, so two cores halve the wall time); output is printed per
# directory, and any failure fails the whole.
check() {
	local dir=$1
	cd "$work/tree/terraform/$dir"
	terraform init -backend=false -input=false -plugin-dir "$plugins" >"$work/init.$BASHPID.log" 2>&1 ||
		{ cat "$work/init.$BASHPID.log"; return 1; }
	terraform validate -no-color
	terraform test -no-color
}

dirs=(.)
for example in terraform/examples/*/; do
	dirs+=("examples/$(basename "$example")")
done
pids=()
for i in "${!dirs[@]}"; do
	check "${dirs[$i]}" >"$work/out.$i" 2>&1 &
	pids+=($!)
done
failed=0
for i in "${!dirs[@]}"; do
	status=0
	wait "${pids[$i]}" || status=$?
	echo "== terraform: ${dirs[$i]}"
	cat "$work/out.$i"
	if [ "$status" -ne 0 ]; then
		echo "deploy/check.sh: terraform checks of ${dirs[$i]} failed" >&2
		failed=1
	fi
done

echo "== cfn-lint: cloudformation/pullheal.yaml"
cfn-lint cloudformation/pullheal.yaml || failed=1
exit "$failed"
