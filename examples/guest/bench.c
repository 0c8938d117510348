/* Front-end cost benchmarks (docs/guest.md "Speed"; examples/guest/bench_guest.py runs them).
 * MODE 1: a register-only loop (guest instructions per second);
 * MODE 2: LAPIC TPR store + load over xAPIC MMIO (the cost of an access irqsim handles);
 * MODE 3: x2APIC self-IPI round trips (ICR write, delivery, IDT entry, handler, EOI,
 *         IRETQ, the STI; HLT wake). */
#include "guest.h"

static volatile int got;
static void on_ipi(u64 v, u64 e) { got++; wrmsr(0x80b, 0); }

int main(void) {
#if MODE == 1
	u64 x = 0;
	for (u64 i = 0; i < 20000000; i++)
		asm volatile("add %1, %0" : "+r"(x) : "r"(i));
#elif MODE == 2
	for (u32 i = 0; i < 100000; i++) {
		mmio_write32(0xfee00080, i & 0x10);
		(void)mmio_read32(0xfee00080);
	}
#else
	wrmsr(0x1b, rdmsr(0x1b) | (1 << 10) | (1 << 11));
	wrmsr(0x80f, 0x1ff);
	set_handler(0x40, on_ipi);
	for (int i = 0; i < 20000; i++) {
		cli();
		wrmsr(0x83f, 0x40);
		sti_hlt();
	}
	return got == 20000 ? 0 : 1;
#endif
	return 0;
}
