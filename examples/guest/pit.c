/* The 8254 PIT and the 8259 from guest code (run-guest --pic; docs/legacy-pc.md "The 8254
 * PIT"): the PIC pair initialised as a PC BIOS leaves it (vectors 20h/28h) with only IRQ 0
 * unmasked, LVT LINT0 in ExtINT mode, counter 0 programmed as Linux's i8253 clockevent does
 * (mode 2, LATCH(1000) = 1193); five timer ticks, each ended by a non-specific EOI to port
 * 20h; then counter 0 is stopped with the mode-0 control word and counter 2 measures 100
 * CLK pulses by polling port 61h bit 5, as Linux's pit_calibrate_tsc does. */
#include "guest.h"

static inline u64 rdtsc(void) { u32 lo, hi; asm volatile("rdtsc" : "=a"(lo), "=d"(hi)); return (u64)hi << 32 | lo; }
static volatile int ticks;
static void on_timer(u64 v, u64 e) { ticks++; outb(0x20, 0x20); }

int main(void) {
	pic_init_extint(0xfe, 0xff);
	set_handler(0x20, on_timer);
	outb(0x43, 0x34); outb(0x40, 1193 & 0xff); outb(0x40, 1193 >> 8);       /* mode 2 */
	u64 t0 = rdtsc();
	while (ticks < 5)
		sti_hlt();
	u64 t1 = rdtsc();
	cli();
	outb(0x43, 0x30);                                                        /* stop */
	puts("timer ticks: "); putx(ticks); puts("\n");
	puts("TSC for 5 ticks: "); putx(t1 - t0); puts("\n");
	outb(0x61, (inb(0x61) & ~0x02) | 0x01);                                  /* gate 2 on */
	outb(0x43, 0xb0); outb(0x42, 100); outb(0x42, 0);                        /* mode 0 */
	u64 t2 = rdtsc();
	int polls = 0;
	while (!(inb(0x61) & 0x20))
		polls++;
	u64 t3 = rdtsc();
	puts("TSC for 101 pulses: "); putx(t3 - t2); puts("\n");
	return 0;
}
