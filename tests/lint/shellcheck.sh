#!/usr/bin/env bash
# Every shell script in the repository (by its #! line, or named *.sh) through shellcheck,
# with the project's settings (.shellcheckrc). Usage: shellcheck.sh REPO
set -euo pipefail
cd "$1"
if [ -d .git ]; then files=$(git ls-files); else files=$(find . -type f -not -path './build*' -not -path './.git/*'); fi
scripts=()
while read -r f; do
  [ -f "$f" ] || continue
  # By its #! line, or a sourced file by its name.
  if head -c 64 "$f" | head -1 | grep -qE '^#!.*\b(ba)?sh\b' || [[ $f == *.sh ]]; then scripts+=("$f"); fi
done <<< "$files"
echo "shellcheck $(shellcheck --version | sed -n 's/^version: //p'): ${#scripts[@]} scripts"
shellcheck -f gcc "${scripts[@]}"
