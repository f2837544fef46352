#!/bin/sh
# Dependencies of the training pipeline (tools/train/, `make train`), not of `make test`:
# Debian's PyTorch 1.13 and NumPy, OpenBLAS as the BLAS behind them (Debian's torch is linked
# against the generic libblas.so.3; the reference BLAS makes training ~20x slower), and WordNet
# (the corpus). CPU only.
set -e
need=""
/usr/bin/python3 -c "import torch, numpy" 2>/dev/null || need="$need python3-torch python3-numpy"
[ -f /usr/share/wordnet/data.noun ] || need="$need wordnet-base"
[ -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 ] || [ "$(uname -m)" != x86_64 ] || need="$need libopenblas0-pthread"
[ "$(uname -m)" = x86_64 ] || dpkg -s libopenblas0-pthread >/dev/null 2>&1 || need="$need libopenblas0-pthread"
[ -z "$need" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "tools/train/deps.sh: installing$need"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
