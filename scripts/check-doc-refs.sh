#!/usr/bin/env bash
# Fails when a comment or document in the repository cites a design or style note, or the team's shared
# notes, by a path that is not a file of the repository: the repository must stand on its own. A citation
# `design.md §6` must read `docs/design.md §6`; paths are taken from the repository root, except markdown
# link targets (`[x](design.md)`), which are taken from the citing file's folder. Any path through a
# `shared/` folder must exist here too. Tracked and new (untracked, not ignored) files are checked.
# Usage: scripts/check-doc-refs.sh   (exit 0: every citation resolves; 1: each bad one printed)
set -euo pipefail
cd "$(dirname "$0")/.."

self=scripts/check-doc-refs.sh
pattern='(\]\()?[A-Za-z0-9_./-]*((design|style)\.md|shared/[A-Za-z0-9_./-]*)'
bad=0
checked=0
while IFS= read -r hit; do
  file=${hit%%:*}
  rest=${hit#*:}
  line=${rest%%:*}
  ref=${rest#*:}
  checked=$((checked + 1))
  if [[ $ref == "]("* ]]; then
    ref=${ref#](}
    path=$(dirname "$file")/$ref
  else
    path=$ref
  fi
  if [[ $path == /* || ! -f $path ]]; then
    echo "$file:$line: cites '$ref', which is not a file of this repository"
    bad=$((bad + 1))
  fi
done < <(git grep -I --untracked -n -o -E "$pattern" -- . ":(exclude)$self" || true)

if [ "$bad" -gt 0 ]; then
  echo "check-doc-refs: $bad of $checked citations name no file of this repository" >&2
  exit 1
fi
echo "check-doc-refs: $checked citations, all resolve"
