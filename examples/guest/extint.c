/* The 8259 through LINT0 virtual wire (run-guest --pic; docs/guest.md "Examples"): the PIC
 * pair initialised as a PC BIOS leaves it (vectors 20h/28h), IRQ 3 unmasked, LVT LINT0 in
 * ExtINT mode; each IRQ 3 edge the host raises reaches the handler through the 8259's INTA
 * (SDM 10.5.1), which ends it with a non-specific EOI to port 20h. */
#include "guest.h"

static volatile int got;
static void on_irq3(u64 v, u64 e) { got++; outb(0x20, 0x20); }

int main(void) {
	pic_init_extint(0xff & ~(1 << 3), 0xff);
	set_handler(0x23, on_irq3);
	while (got < 3)
		sti_hlt();
	puts("IRQ 3 taken: "); putx(got); puts("\n");
	return 0;
}
