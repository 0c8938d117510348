/* x2APIC self-IPIs delivered through the guest's own IDT (docs/guest.md "Examples"). */
#include "guest.h"
#define MSR_APIC_BASE 0x1b
#define X2APIC_EOI 0x80b
#define X2APIC_SVR 0x80f
#define X2APIC_SELF_IPI 0x83f

static volatile int got;
static void on_ipi(u64 v, u64 e) { got++; wrmsr(X2APIC_EOI, 0); }

int main(void) {
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | (1 << 10) | (1 << 11));   /* x2APIC */
	wrmsr(X2APIC_SVR, 0x1ff);
	set_handler(0x40, on_ipi);
	sti();
	for (int i = 0; i < 10; i++)
		wrmsr(X2APIC_SELF_IPI, 0x40);
	for (volatile int i = 0; i < 100; i++)
		;
	puts("self-IPIs received: "); putx(got); puts("\n");
	return got == 10 ? 0 : 1;
}
