#!/bin/bash
# ../online-s24/collect.sh, writing into results/online-s25/TAG/runs/ (search baselines as there).
#   bash results/online-s25/collect.sh TAG
set -eu
cd "$(dirname "$0")/../.."
sed -e '/^cd /d' -e 's#"results/online-s24/\$1"#"results/online-s25/$1"#g' -e 's#dest=results/online-s24/#dest=results/online-s25/#' \
  results/online-s24/collect.sh | bash -s "$1"
