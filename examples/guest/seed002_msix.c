/* Seed 002's MSI-X set-up, as a driver does it, in real code on irqsim's seed-002 machine
 * (irqsim run-guest --scenario seed002 --flat 0x100000 seed002_msix.bin):
 *  1. enumerate ECAM: number each root port's secondary bus, give it memory windows;
 *  2. find virtio-net (1af4:1041) behind it, size and place its 64-bit BARs, enable memory
 *     space and bus mastering on the port and the function;
 *  3. find the MSI-X capability, and program its table the safe way (PCIe 6.1.4.5): Function
 *     Mask set while every entry's address and data are written, then cleared;
 *  4. ask the device to raise each vector (irqsim's test port 0x2100), and count what the
 *     handlers receive.
 * Built with -DUNSAFE_ORDER it unmasks each entry before writing it, the bug irqsim
 * reports as MSIX-ENTRY-MODIFIED-UNMASKED. */
#include "guest.h"

#define ECAM 0xB0000000UL
#define LAPIC 0xFEE00000UL
#define TRIGGER_PORT 0x2100
#define VECTOR0 0x40

static u64 cfg(int bus, int dev, int off) { return ECAM + ((u64)bus << 20) + ((u64)dev << 15) + off; }
static volatile int received[8];

static void on_msix(u64 v, u64 e) { received[v - VECTOR0]++; mmio_write32(LAPIC + 0xB0, 0); }

static u64 place(u64 *next, u64 size) {
	u64 a = (*next + size - 1) & ~(size - 1);
	*next = a + size;
	return a;
}

int main(void) {
	mmio_write32(LAPIC + 0xF0, 0x1FF);                 /* SVR: APIC software-enabled */
	u64 mem = 0xC0000000UL, pref = 0x800000000UL;      /* the host bridge's windows */
	int bus_next = 1, found = 0, ok = 1;
	for (int dev = 0; dev < 32 && !found; dev++) {
		if (mmio_read16(cfg(0, dev, 0)) == 0xFFFF || (mmio_read8(cfg(0, dev, 0x0E)) & 0x7F) != 1)
			continue;
		int sec = bus_next++;
		mmio_write8(cfg(0, dev, 0x18), 0);             /* primary, secondary, subordinate */
		mmio_write8(cfg(0, dev, 0x19), sec);
		mmio_write8(cfg(0, dev, 0x1A), sec);
		if (mmio_read16(cfg(sec, 0, 0)) != 0x1AF4 || mmio_read16(cfg(sec, 0, 2)) != 0x1041)
			continue;
		found = 1;
		u64 mbase = mem, pbase = pref;
		for (int bar = 0; bar < 6; bar++) {
			u64 r = cfg(sec, 0, 0x10 + 4 * bar);
			u32 lo = mmio_read32(r);
			if (!(lo & 6) && !(lo & 1) && lo == 0)     /* unimplemented */
				;
			mmio_write32(r, 0xFFFFFFFF);
			u32 szlo = mmio_read32(r);
			if (szlo == 0) { mmio_write32(r, lo); continue; }
			int is64 = (szlo & 6) == 4, prefetch = szlo & 8;
			u64 size = ~(u64)(szlo & ~0xFu) + 1;
			if (is64) {
				mmio_write32(r + 4, 0xFFFFFFFF);
				size = ~(((u64)mmio_read32(r + 4) << 32) | (szlo & ~0xFu)) + 1;
			}
			u64 a = place(prefetch ? &pref : &mem, size);
			mmio_write32(r, (u32)a | (szlo & 0xF));
			if (is64) { mmio_write32(r + 4, (u32)(a >> 32)); bar++; }
		}
		/* Root port windows (PCI-to-PCI Bridge 1.2, 3.2.5.8-9), 1 MiB granules. */
		u64 mlim = (mem + 0xFFFFF) & ~0xFFFFFUL, plim = (pref + 0xFFFFF) & ~0xFFFFFUL;
		mmio_write16(cfg(0, dev, 0x20), (mbase >> 16) & 0xFFF0);
		mmio_write16(cfg(0, dev, 0x22), ((mlim - 1) >> 16) & 0xFFF0);
		mmio_write16(cfg(0, dev, 0x24), ((pbase >> 16) & 0xFFF0) | 1);
		mmio_write16(cfg(0, dev, 0x26), (((plim - 1) >> 16) & 0xFFF0) | 1);
		mmio_write32(cfg(0, dev, 0x28), pbase >> 32);
		mmio_write32(cfg(0, dev, 0x2C), (plim - 1) >> 32);
		mmio_write16(cfg(0, dev, 0x04), 0x6);          /* port: memory space, bus master */
		mmio_write16(cfg(sec, 0, 0x04), 0x6);          /* function: the same */

		/* MSI-X capability (PCIe 7.7.2). */
		int cap = mmio_read8(cfg(sec, 0, 0x34));
		while (cap && mmio_read8(cfg(sec, 0, cap)) != 0x11)
			cap = mmio_read8(cfg(sec, 0, cap + 1));
		if (!cap) { puts("no MSI-X capability\n"); return 2; }
		u16 ctl = mmio_read16(cfg(sec, 0, cap + 2));
		int n = (ctl & 0x7FF) + 1;
		u32 tbl = mmio_read32(cfg(sec, 0, cap + 4));
		u64 bar = mmio_read32(cfg(sec, 0, 0x10 + 4 * (tbl & 7))) & ~0xFUL;
		bar |= (u64)mmio_read32(cfg(sec, 0, 0x14 + 4 * (tbl & 7))) << 32;
		u64 table = bar + (tbl & ~7u);
#ifdef UNSAFE_ORDER
		mmio_write16(cfg(sec, 0, cap + 2), 0x8000);    /* enable, no function mask */
		for (int i = 0; i < n; i++) {
			u64 e = table + 16 * i;
			mmio_write32(e + 12, 0);                   /* unmasked first: the bug */
			mmio_write32(e + 0, LAPIC);
			mmio_write32(e + 4, 0);
			mmio_write32(e + 8, VECTOR0 + i);
		}
#else
		mmio_write16(cfg(sec, 0, cap + 2), 0xC000);    /* enable with Function Mask */
		for (int i = 0; i < n; i++) {
			u64 e = table + 16 * i;
			mmio_write32(e + 0, LAPIC);                /* dest APIC 0, physical, fixed */
			mmio_write32(e + 4, 0);
			mmio_write32(e + 8, VECTOR0 + i);
			mmio_write32(e + 12, 0);                   /* entry unmasked */
		}
		mmio_write16(cfg(sec, 0, cap + 2), 0x8000);    /* Function Mask cleared */
#endif
		for (int i = 0; i < n; i++)
			set_handler(VECTOR0 + i, on_msix);
		sti();
		u32 rid = (u32)sec << 8;
		for (int i = 0; i < n; i++)
			outl(TRIGGER_PORT, rid << 16 | i);         /* the device raises vector i */
		for (volatile int spin = 0; spin < 2000; spin++)
			;
		puts("virtio-net MSI-X vectors: "); putx(n); puts(", received:");
		for (int i = 0; i < n; i++) {
			puts(" "); putx(received[i]);
			ok &= received[i] == 1;
		}
		puts("\n");
	}
	if (!found) { puts("virtio-net not found\n"); return 2; }
	return ok ? 0 : 1;
}
