#!/bin/sh
# Build the example guest routines as flat binaries loaded at 0x100000 (irqsim run-guest
# --flat 0x100000 FILE.bin). The .bin files are committed, so tests need no compiler.
set -eu
cd "$(dirname "$0")"
CFLAGS="-O2 -ffreestanding -fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only \
        -fno-stack-protector -fcf-protection=none -nostdlib -static -no-pie"
build() {    # build NAME SOURCE [CFLAGS...]
    name=$1; src=$2; shift 2
    gcc $CFLAGS "$@" -Wl,--build-id=none -Wl,-T,flat.lds -Wl,-z,noexecstack -o "$name.elf" \
        start.S lib.c "$src"
    objcopy -O binary "$name.elf" "$name.bin"
    rm -f "$name.elf"
}
build selfipi selfipi.c
build seed002_msix seed002_msix.c
build seed002_msix_unsafe seed002_msix.c -DUNSAFE_ORDER
build bench_alu bench.c -DMODE=1
build bench_mmio bench.c -DMODE=2
build bench_ipi bench.c -DMODE=3
build extint extint.c
build pit pit.c
build rtc rtc.c
