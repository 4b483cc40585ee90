#!/usr/bin/env bash
# Every shell script in the repository (by its #! line) through shellcheck,
# with the project's settings (.shellcheckrc). Usage: shellcheck.sh REPO
set -euo pipefail
cd "$1"
if [ -d .git ]; then files=$(git ls-files); else files=$(find . -type f -not -path './build*' -not -path './.git/*'); fi
scripts=()
while read -r f; do
  [ -f "$f" ] && head -c 64 "$f" | head -1 | grep -qE '^#!.*\b(ba)?sh\b' && scripts+=("$f")
done <<< "$files"
echo "shellcheck $(shellcheck --version | sed -n 's/^version: //p'): ${#scripts[@]} scripts"
shellcheck -f gcc "${scripts[@]}"
