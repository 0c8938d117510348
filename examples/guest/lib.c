#include "guest.h"
extern char isr_stubs[];
extern u8 idt[];
static void (*handlers[256])(u64, u64);

void puts(const char *s) { while (*s) outb(0x3f8, (u8)*s++); }
void putx(u64 v) {
	char b[19]; int i = 18; b[i] = 0;
	do { b[--i] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
	b[--i] = 'x'; b[--i] = '0'; puts(b + i);
}
void guest_exit(int code) { outl(0xf4, (u32)code); for (;;) asm volatile("cli; hlt"); }
void set_handler(int v, void (*h)(u64, u64)) { handlers[v] = h; }
void pic_init_extint(u8 master_mask, u8 slave_mask) {
	outb(0x20, 0x11); outb(0x21, 0x20); outb(0x21, 0x04); outb(0x21, 0x01);
	outb(0xa0, 0x11); outb(0xa1, 0x28); outb(0xa1, 0x02); outb(0xa1, 0x01);
	outb(0x21, master_mask); outb(0xa1, slave_mask);
	mmio_write32(0xfee000f0, 0x1ff);                /* SVR: the LAPIC enabled */
	mmio_write32(0xfee00350, 0x700);                /* LVT LINT0: ExtINT */
}

void idt_init(void) {
	for (int v = 0; v < 256; v++) {
		u64 a = (u64)(isr_stubs + 16 * v);
		u8 *g = idt + 16 * v;
		g[0] = a; g[1] = a >> 8; g[2] = 0x08; g[3] = 0; g[4] = 0; g[5] = 0x8e;
		g[6] = a >> 16; g[7] = a >> 24; g[8] = a >> 32; g[9] = a >> 40; g[10] = a >> 48;
		g[11] = a >> 56; g[12] = g[13] = g[14] = g[15] = 0;
	}
}

void isr_dispatch(u64 vector, u64 error) {
	if (handlers[vector]) { handlers[vector](vector, error); return; }
	puts("unexpected vector "); putx(vector); puts("\n");
	guest_exit(3);
}
