#!/bin/sh
# Build the example guest routines as flat binaries loaded at 0x100000 (irqsim run-guest
# --flat 0x100000 FILE.bin). The .bin files are committed, so tests need no compiler.
set -eu
cd "$(dirname "$0")"
CFLAGS="-O2 -ffreestanding -fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only \
        -fno-stack-protector -fcf-protection=none -nostdlib -static -no-pie"
for prog in selfipi; do
    gcc $CFLAGS -Wl,--build-id=none -Wl,-T,flat.lds -Wl,-z,noexecstack -o "$prog.elf" \
        start.S lib.c "$prog.c"
    objcopy -O binary "$prog.elf" "$prog.bin"
    rm -f "$prog.elf"
done
