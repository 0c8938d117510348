/* Helpers for flat routines on irqsim (runtime: start.S). */
#ifndef GUEST_H
#define GUEST_H
typedef unsigned char u8; typedef unsigned short u16; typedef unsigned int u32;
typedef unsigned long u64;

static inline void outb(u16 port, u8 v) { asm volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { asm volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 inl(u16 port) { u32 v; asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 mmio_read32(u64 a) { return *(volatile u32 *)a; }
static inline void mmio_write32(u64 a, u32 v) { *(volatile u32 *)a = v; }
static inline u16 mmio_read16(u64 a) { return *(volatile u16 *)a; }
static inline void mmio_write16(u64 a, u16 v) { *(volatile u16 *)a = v; }
static inline u8 mmio_read8(u64 a) { return *(volatile u8 *)a; }
static inline void mmio_write8(u64 a, u8 v) { *(volatile u8 *)a = v; }
static inline u64 rdmsr(u32 msr) { u32 lo, hi; asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr)); return (u64)hi << 32 | lo; }
static inline void wrmsr(u32 msr, u64 v) { asm volatile("wrmsr" :: "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory"); }
static inline void sti(void) { asm volatile("sti" ::: "memory"); }
static inline void cli(void) { asm volatile("cli" ::: "memory"); }
static inline void sti_hlt(void) { asm volatile("sti; hlt" ::: "memory"); }

void puts(const char *s);
void putx(u64 v);
void guest_exit(int code);
/* Install handler h for vector v (called as h(vector, error_code)). */
void set_handler(int v, void (*h)(u64, u64));
/* The 8259 pair as a PC BIOS leaves it (ICW1-ICW4: vectors 20h/28h, cascade on IR2,
 * 8086 mode) with the given masks, and LVT LINT0 in ExtINT mode (the virtual wire). */
void pic_init_extint(u8 master_mask, u8 slave_mask);
#endif
