/* irqsim guest executor: native Unicorn hooks (docs/guest.md "Speed").
 *
 * A code hook on every instruction counts instructions and calls Python's boundary handler
 * when the count reaches a deadline set by Python (the next engine event, the
 * synchronisation bound, or "the next boundary" when something is to be delivered); while
 * an interrupt waits for RFLAGS.IF it also calls it at the first instruction boundary where
 * IF is set. The handler returns nonzero when it redirected RIP (an interrupt entry) or
 * stopped emulation: the instruction is then not executed here. A block hook calls
 * Python only the first time it sees a block's address (to hook that block's special
 * instructions). Unicorn's C API is reached through function pointers handed over by
 * Python, so this library links against nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int (*hook_add_fn)(void *uc, size_t *hh, int type, void *cb, void *ud,
                           uint64_t begin, uint64_t end, ...);
typedef int (*reg_read_fn)(void *uc, int regid, void *value);
typedef void (*new_block_fn)(uint64_t address, uint32_t size);
typedef int (*boundary_fn)(uint64_t address);
typedef int (*poll_fn)(uint64_t address);
typedef int (*reg_write_fn)(void *uc, int regid, const void *value);
typedef void (*special_fn)(uint64_t address, uint32_t size);
typedef uint64_t (*mmio_read_fn)(void *uc, uint64_t offset, unsigned size, void *ud);
typedef void (*mmio_write_fn)(void *uc, uint64_t offset, unsigned size, uint64_t value,
                              void *ud);

#define UC_HOOK_CODE (1 << 2)
#define UC_HOOK_BLOCK (1 << 3)

#define POLL_SITES 64

struct irqsim_state {
    uint64_t count;         /* instructions executed */
    uint64_t deadline;      /* stop before the instruction that would exceed it */
    int32_t wait_if;        /* stop at the first boundary with RFLAGS.IF set */
    int32_t rflags_reg;     /* Unicorn's UC_X86_REG_RFLAGS */
    boundary_fn boundary;   /* Python: deliver what is due; nonzero when RIP moved */
    reg_read_fn reg_read;
    new_block_fn new_block;
    uint64_t *seen;         /* open-addressing set of block addresses (+1; 0 = empty) */
    uint64_t seen_mask;
    uint64_t seen_n;
    uint64_t skip_addr;     /* the boundary handler moved RIP before this instruction ... */
    uint64_t skip_count;    /* ... at this count: its other hooks must not act */
    uint64_t shadow_count;  /* count just after the last STI / MOV SS (SDM 6.8.3) */
    poll_fn pause;          /* Python: a PAUSE or RDTSC loop is spinning (warp it) */
    uint64_t pause_gap;     /* a site seen again at most this many instructions later ... */
    uint32_t pause_repeats; /* ... this many times running: call pause */
    uint32_t pad0;
    special_fn special;     /* Python: a special instruction (RDMSR, WRMSR, CPUID, ...) */
    /* RDTSC in C: the guest clock is base_ps at count base_count, plus insn_ps each
     * instruction since; TSC = ns * tsc_khz / 10^6 + tsc_offset (as Executor._tsc). */
    reg_write_fn reg_write;
    int32_t rax_reg, rdx_reg, rip_reg, pad;
    uint64_t base_ps, base_count, insn_ps, tsc_khz, tsc_offset;
    /* The xAPIC ICR mirror (docs/guest.md "Speed"): loads of ICR (0x300) and ICR2 (0x310)
     * and stores to ICR2 are answered here from values the model pushed (Executor._mirror)
     * when the access, its cost included, ends before the next engine event and the sync
     * bound (lim_ps): the model's state cannot change before then, so the answer is the
     * model's. Anything else goes to Python (py_read / py_write). */
    mmio_read_fn py_read;
    mmio_write_fn py_write;
    uint64_t m_icr_off;     /* MMIO offset of ICR (the LAPIC page + 0x300 - MMIO_BASE) */
    uint64_t lim_ps;        /* the next engine event or the sync bound, ps */
    uint64_t cost_ps;       /* a LAPIC MMIO access (TimingModel.lapic_mmio_access), ps */
    uint64_t stall_ps;      /* costs of accesses served here, not yet on Python's clock */
    uint64_t sync_ps;       /* guest clock at the last access served here (engine.now) */
    uint64_t served;        /* accesses served here */
    uint64_t poll_last[2];  /* poll detector of ICR / ICR2 loads (Executor._poll) */
    uint32_t poll_run[2];
    uint32_t poll_have;     /* bit i: poll_last[i] / poll_run[i] valid */
    uint32_t m_on;          /* bit 0: ICR / ICR2 loads, bit 1: ICR2 stores served here */
    uint32_t m_icr, m_icr_hi, m_icr2_wmask;
    uint32_t dirty;         /* for Python: DIRTY_* below */
    /* The special instructions' addresses (+1; 0 = empty) and kinds (irqsim_hook_at), an
     * open-addressing table the code hook looks up: one Unicorn hook per special
     * instruction made Unicorn walk every hook's range at every instruction. */
    uint64_t *spec_keys;
    uint8_t *spec_kinds;
    uint64_t spec_mask, spec_n;
    uint32_t stop_req;      /* Python asked Unicorn to stop: count nothing more */
    int32_t rcx_reg;
    uint64_t sp_rax, sp_rcx, sp_rdx;    /* read for Python before a special instruction */
    /* Executor._poll's entries of PAUSE and RDTSC sites, kept here: key (address << 1 |
     * RDTSC) + 1, the count when last seen, the run; Python empties it (ps_n = 0) wherever
     * it empties its own (_poll_reset). Beyond POLL_SITES sites it starts over. */
    uint64_t ps_key[POLL_SITES];
    uint64_t ps_last[POLL_SITES];
    uint32_t ps_run[POLL_SITES];
    uint32_t ps_n, pad3;
};

#define DIRTY_CLOCK 1
#define DIRTY_POLLS 2
#define DIRTY_ICR2 4
#define DIRTY_SYNC 8

static void special_at(void *uc, struct irqsim_state *s, uint64_t address, uint32_t size,
                       int kind);

#define SPEC_HASH(k, m) (((k) * 0x9E3779B97F4A7C15ull) >> 20 & (m))

static void code_hook(void *uc, uint64_t address, uint32_t size, void *ud)
{
    struct irqsim_state *s = ud;
    uint64_t key = address + 1, i;
    if (s->stop_req)
        return;
    if (s->count >= s->deadline) {
        if (s->boundary(address))
            goto moved;
    } else if (s->wait_if) {
        uint64_t fl = 0;
        s->reg_read(uc, s->rflags_reg, &fl);
        if ((fl & (1 << 9)) && s->boundary(address))
            goto moved;
    }
    s->count++;
    if (s->spec_n)              /* a special instruction's hook runs after this one */
        for (i = SPEC_HASH(key, s->spec_mask); s->spec_keys[i]; i = (i + 1) & s->spec_mask)
            if (s->spec_keys[i] == key) {
                special_at(uc, s, address, size, s->spec_kinds[i]);
                break;
            }
    return;
moved:
    s->skip_addr = address;
    s->skip_count = s->count;
}

#define SKIPPED(s, a) ((s)->skip_addr == (a) && (s)->skip_count == (s)->count)

/* STI or MOV SS: the next instruction runs before any interrupt or NMI is taken. */
static void shadow_hook(void *uc, uint64_t address, uint32_t size, void *ud)
{
    struct irqsim_state *s = ud;
    (void)uc;
    (void)size;
    if (!SKIPPED(s, address))
        s->shadow_count = s->count;
}

/* Executor._poll for a PAUSE (tsc = 0) or RDTSC (1) site: 1 when it is seen again within
 * pause_gap instructions pause_repeats times running (the run then starts over). */
static int poll_site(struct irqsim_state *s, uint64_t address, int tsc)
{
    uint64_t key = (address << 1 | (uint64_t)tsc) + 1;
    uint32_t i, run;
    for (i = 0; i < s->ps_n; i++)
        if (s->ps_key[i] == key) {
            run = s->count - s->ps_last[i] <= s->pause_gap ? s->ps_run[i] + 1 : 0;
            s->ps_last[i] = s->count;
            s->ps_run[i] = run >= s->pause_repeats ? 0 : run;
            return run >= s->pause_repeats;
        }
    if (s->ps_n == POLL_SITES)
        s->ps_n = 0;
    s->ps_key[s->ps_n] = key;
    s->ps_last[s->ps_n] = s->count;
    s->ps_run[s->ps_n++] = 0;
    return 0;
}

static void pause_hook(void *uc, uint64_t address, uint32_t size, void *ud)
{
    struct irqsim_state *s = ud;
    (void)uc;
    (void)size;
    if (SKIPPED(s, address))
        return;
    if (poll_site(s, address, 0))
        s->pause(address);
}

static int seen_insert(struct irqsim_state *s, uint64_t a)
{
    uint64_t key = a + 1, i;
    if ((s->seen_n + 1) * 2 > s->seen_mask + 1) {
        uint64_t nm = s->seen_mask * 2 + 1, *old = s->seen, om = s->seen_mask;
        s->seen = calloc(nm + 1, sizeof(uint64_t));
        s->seen_mask = nm;
        for (i = 0; i <= om; i++) {
            uint64_t k = old[i], j;
            if (!k)
                continue;
            for (j = (k * 0x9E3779B97F4A7C15ull) >> 20 & nm; s->seen[j]; j = (j + 1) & nm)
                ;
            s->seen[j] = k;
        }
        free(old);
    }
    for (i = (key * 0x9E3779B97F4A7C15ull) >> 20 & s->seen_mask; s->seen[i];
         i = (i + 1) & s->seen_mask)
        if (s->seen[i] == key)
            return 0;
    s->seen[i] = key;
    s->seen_n++;
    return 1;
}

static void block_hook(void *uc, uint64_t address, uint32_t size, void *ud)
{
    struct irqsim_state *s = ud;
    (void)uc;
    if (seen_insert(s, address))
        s->new_block(address, size);
}

/* Forget every block seen (their special instructions are hooked again when next seen). */
void irqsim_forget(struct irqsim_state *s)
{
    memset(s->seen, 0, (s->seen_mask + 1) * sizeof(uint64_t));
    s->seen_n = 0;
}

int irqsim_install(void *uc, struct irqsim_state *s, hook_add_fn hook_add, size_t *hooks)
{
    int err;
    s->seen_mask = 4095;
    s->seen = calloc(s->seen_mask + 1, sizeof(uint64_t));
    s->seen_n = 0;
    s->spec_mask = 255;
    s->spec_n = 0;
    s->spec_keys = calloc(s->spec_mask + 1, sizeof(uint64_t));
    s->spec_kinds = calloc(s->spec_mask + 1, 1);
    if (!s->seen || !s->spec_keys || !s->spec_kinds)
        return -1;
    err = hook_add(uc, &hooks[0], UC_HOOK_CODE, (void *)code_hook, s, 1, 0);
    if (err)
        return err;
    if (s->new_block)
        err = hook_add(uc, &hooks[1], UC_HOOK_BLOCK, (void *)block_hook, s, 1, 0);
    return err;
}

static void special_hook(void *uc, uint64_t address, uint32_t size, void *ud)
{
    struct irqsim_state *s = ud;
    if (SKIPPED(s, address))
        return;
    s->sp_rax = s->sp_rcx = s->sp_rdx = 0;
    s->reg_read(uc, s->rax_reg, &s->sp_rax);
    s->reg_read(uc, s->rcx_reg, &s->sp_rcx);
    s->reg_read(uc, s->rdx_reg, &s->sp_rdx);
    s->special(address, size);
}

static void rdtsc_hook(void *uc, uint64_t address, uint32_t size, void *ud)
{
    struct irqsim_state *s = ud;
    uint64_t ps, tsc, lo, hi, next = address + size;
    if (SKIPPED(s, address))
        return;
    if (poll_site(s, address, 1) && s->pause(address))
        return;                     /* warped; nonzero: emulation stops here */
    ps = s->base_ps + (s->count - s->base_count) * s->insn_ps;
    tsc = (ps / 1000) * s->tsc_khz / 1000000 + s->tsc_offset;
    lo = tsc & 0xFFFFFFFFu;
    hi = tsc >> 32;
    s->reg_write(uc, s->rax_reg, &lo);
    s->reg_write(uc, s->rdx_reg, &hi);
    s->reg_write(uc, s->rip_reg, &next);
}

static void special_at(void *uc, struct irqsim_state *s, uint64_t address, uint32_t size,
                       int kind)
{
    if (kind == 0)
        pause_hook(uc, address, size, s);
    else if (kind == 1)
        shadow_hook(uc, address, size, s);
    else if (kind == 3)
        rdtsc_hook(uc, address, size, s);
    else
        special_hook(uc, address, size, s);
}

/* Hook the instruction at ``address``: kind 0 PAUSE, 1 STI / MOV SS, 2 other special,
 * 3 RDTSC (an entry in the table the code hook looks up; -1 when out of memory). */
int irqsim_hook_at(void *uc, struct irqsim_state *s, hook_add_fn hook_add, uint64_t address,
                   int kind, size_t *hh)
{
    uint64_t key = address + 1, i, j;
    (void)uc;
    (void)hook_add;
    *hh = 0;
    if ((s->spec_n + 1) * 2 > s->spec_mask + 1) {
        uint64_t nm = s->spec_mask * 2 + 1, om = s->spec_mask;
        uint64_t *keys = calloc(nm + 1, sizeof(uint64_t)), *ok = s->spec_keys;
        uint8_t *kinds = calloc(nm + 1, 1), *okd = s->spec_kinds;
        if (!keys || !kinds) {
            free(keys);
            free(kinds);
            return -1;
        }
        for (i = 0; i <= om; i++) {
            if (!ok[i])
                continue;
            for (j = SPEC_HASH(ok[i], nm); keys[j]; j = (j + 1) & nm)
                ;
            keys[j] = ok[i];
            kinds[j] = okd[i];
        }
        free(ok);
        free(okd);
        s->spec_keys = keys;
        s->spec_kinds = kinds;
        s->spec_mask = nm;
    }
    for (i = SPEC_HASH(key, s->spec_mask); s->spec_keys[i]; i = (i + 1) & s->spec_mask)
        if (s->spec_keys[i] == key) {
            s->spec_kinds[i] = (uint8_t)kind;
            return 0;
        }
    s->spec_keys[i] = key;
    s->spec_kinds[i] = (uint8_t)kind;
    s->spec_n++;
    return 0;
}

/* An access served here happens at the guest's instant, which must be before the next
 * engine event and the sync bound (lim_ps: nothing in the model is due, so the mirror is
 * the model's state); 0 otherwise (Python serves it). It costs cost_ps like any LAPIC
 * access, on the clock and the deadline (as Executor._arm would set it); when that cost
 * reaches lim_ps, Python runs what is due before the next instruction (DIRTY_SYNC), as it
 * does after an access it serves. */
static int mirror_charge(struct irqsim_state *s)
{
    uint64_t clock = s->base_ps + (s->count - s->base_count) * s->insn_ps;
    uint64_t after = clock + s->cost_ps, left;
    if (clock >= s->lim_ps)
        return 0;
    s->base_ps += s->cost_ps;
    s->stall_ps += s->cost_ps;
    s->sync_ps = clock;
    s->served++;
    s->dirty |= DIRTY_CLOCK;
    if (after >= s->lim_ps) {
        s->dirty |= DIRTY_SYNC;
        if (s->deadline > s->count)
            s->deadline = s->count;
    } else if (s->deadline > s->count) {
        left = (s->lim_ps - after + s->insn_ps - 1) / s->insn_ps;
        if (s->count + left < s->deadline)
            s->deadline = s->count + left;
    }
    return 1;
}

static uint64_t mmio_read(void *uc, uint64_t offset, unsigned size, void *ud)
{
    struct irqsim_state *s = ud;
    uint64_t rel = offset - s->m_icr_off;
    if ((s->m_on & 1) && size == 4 && (rel == 0 || rel == 0x10)) {
        int i = rel >> 4;
        uint32_t bit = 1u << i, run = 0;
        uint64_t n = s->count;
        if (s->poll_have & bit) {
            run = n - s->poll_last[i] <= s->pause_gap ? s->poll_run[i] + 1 : 0;
            if (run >= s->pause_repeats)
                goto python;        /* a polling loop: Python warps it */
        }
        if (!mirror_charge(s))
            goto python;
        s->poll_have |= bit;
        s->poll_run[i] = run;
        s->poll_last[i] = n;
        return i ? s->m_icr_hi : s->m_icr;
    }
python:
    return s->py_read(uc, offset, size, 0);
}

static void mmio_write(void *uc, uint64_t offset, unsigned size, uint64_t value, void *ud)
{
    struct irqsim_state *s = ud;
    if ((s->m_on & 2) && size == 4 && offset - s->m_icr_off == 0x10 && mirror_charge(s)) {
        s->m_icr_hi = (uint32_t)value & s->m_icr2_wmask;
        s->poll_have = 0;           /* a store resets the poll detectors (_poll_reset) */
        s->ps_n = 0;
        s->dirty |= DIRTY_POLLS | DIRTY_ICR2;
        return;
    }
    s->py_write(uc, offset, size, value, 0);
}

typedef int (*mmio_map_fn)(void *uc, uint64_t address, size_t size, void *read_cb,
                           void *user_data_read, void *write_cb, void *user_data_write);

/* Map the MMIO range with the callbacks above (Python's behind them). */
int irqsim_mmio_map(void *uc, struct irqsim_state *s, mmio_map_fn mmio_map, uint64_t address,
                    uint64_t size)
{
    return mmio_map(uc, address, size, (void *)mmio_read, s, (void *)mmio_write, s);
}

void irqsim_free(struct irqsim_state *s)
{
    free(s->seen);
    s->seen = 0;
    free(s->spec_keys);
    free(s->spec_kinds);
    s->spec_keys = 0;
    s->spec_kinds = 0;
    s->spec_n = 0;
}
