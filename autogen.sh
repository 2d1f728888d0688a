#!/bin/sh
set -e
cd "$(dirname "$0")"
# AC_CONFIG_MACRO_DIR([m4]): libtoolize fills it; a fresh clone has none
# (aclocal would warn that it cannot open it).
mkdir -p m4
autoreconf -fi
