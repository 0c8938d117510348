/* The 8259 through LINT0 virtual wire (run-guest --pic; docs/guest.md "Examples"): the PIC
 * pair initialised as a PC BIOS leaves it (vectors 20h/28h), IRQ 3 unmasked, LVT LINT0 in
 * ExtINT mode; each IRQ 3 edge the host raises reaches the handler through the 8259's INTA
 * (SDM 10.5.1), which ends it with a non-specific EOI to port 20h. */
#include "guest.h"
#define APIC 0xfee00000UL
#define SVR 0xf0
#define LINT0 0x350

static volatile int got;
static void on_irq3(u64 v, u64 e) { got++; outb(0x20, 0x20); }
static void w32(u64 a, u32 v) { *(volatile u32 *)a = v; }

int main(void) {
	outb(0x20, 0x11); outb(0x21, 0x20); outb(0x21, 0x04); outb(0x21, 0x01);  /* ICW1-4 */
	outb(0xa0, 0x11); outb(0xa1, 0x28); outb(0xa1, 0x02); outb(0xa1, 0x01);
	outb(0x21, 0xff & ~(1 << 3)); outb(0xa1, 0xff);                          /* OCW1 */
	w32(APIC + SVR, 0x1ff);
	w32(APIC + LINT0, 0x700);                                                /* ExtINT */
	set_handler(0x23, on_irq3);
	while (got < 3)
		sti_hlt();
	puts("IRQ 3 taken: "); putx(got); puts("\n");
	return 0;
}
