#!/bin/sh
# Measured FMA peak and large-sgemm GFLOP/s of the x86 micro-kernels (JSON on stdout).
#   cmake -S . -B build/x86 -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build/x86
#   sh benchmarks/x86_kernels.sh [build/x86] [size]
set -e
B=${1:-build/x86}
cc -O2 -Inative/include -Inative/core -Inative/generic -Inative/x86 benchmarks/peak_flops.c "$B/libloadrun_static.a" \
   -lpthread -lm -o "$B/peak_flops"
"$B/peak_flops" ${2:-1024}
