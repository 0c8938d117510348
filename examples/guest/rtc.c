/* The MC146818 RTC through the cascaded 8259 from guest code (run-guest --pic;
 * docs/legacy-pc.md "The RTC"): the PIC pair as a PC BIOS leaves it (vectors 20h/28h) with
 * IRQ 2 (the cascade) and IRQ 8 unmasked, LVT LINT0 in ExtINT mode; rate select 6 (1024 Hz)
 * and PIE set as Linux's rtc-cmos does; each IRQ 8 is acknowledged by reading register C and
 * ended with EOIs to the slave and the master. Then the time, read after waiting out UIP. */
#include "guest.h"

static u8 cmos_read(u8 reg) { outb(0x70, reg); return inb(0x71); }
static void cmos_write(u8 reg, u8 v) { outb(0x70, reg); outb(0x71, v); }
static volatile int ticks;
static volatile u8 last_c;
static void on_rtc(u64 v, u64 e) {
	last_c = cmos_read(0x0c);               /* acknowledge: drops IRQ 8 */
	ticks++;
	outb(0xa0, 0x20); outb(0x20, 0x20);     /* EOI slave, then master */
}

int main(void) {
	pic_init_extint(0xfb, 0xfe);
	set_handler(0x28, on_rtc);
	cmos_write(0x0a, (cmos_read(0x0a) & 0xf0) | 6);                          /* 1024 Hz */
	cmos_read(0x0c);
	cmos_write(0x0b, cmos_read(0x0b) | 0x40);                                /* PIE */
	while (ticks < 4)
		sti_hlt();
	cli();
	cmos_write(0x0b, cmos_read(0x0b) & ~0x40);
	puts("RTC interrupts: "); putx(ticks); puts(", register C "); putx(last_c); puts("\n");
	while (cmos_read(0x0a) & 0x80)
		;
	puts("time: "); putx(cmos_read(0x04)); puts(":"); putx(cmos_read(0x02)); puts(":");
	putx(cmos_read(0x00)); puts("\n");
	return 0;
}
