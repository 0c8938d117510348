/* Minimal runtime for flat 64-bit routines run with `irqsim run-guest --flat 0x100000`:
 * a GDT (so IRETQ has a code descriptor), an IDT whose 256 gates enter isr_common with the
 * vector (and a zero error code where the CPU pushes none), a stack, then main(); main's
 * return value is the exit code (isa-debug-exit, port 0xf4). See docs/guest.md. */
	.code64
	.section .text.start, "ax"
	.globl _start
_start:
	lgdt	gdt_descr(%rip)
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	lea	stack_top(%rip), %rsp
	pushq	$0x08
	lea	1f(%rip), %rax
	pushq	%rax
	lretq
1:	call	idt_init
	lidt	idt_descr(%rip)
	call	main
	mov	%eax, %edi
	call	guest_exit
2:	cli
	hlt
	jmp	2b

/* isr_common: the stub pushed the vector (and an error code, real or zero). */
isr_common:
	push	%rax
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	mov	72(%rsp), %rdi		/* vector */
	mov	80(%rsp), %rsi		/* error code */
	call	isr_dispatch
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rax
	add	$16, %rsp
	iretq

/* 256 stubs of 16 bytes: [push $0 if no CPU error code]; push $vector; jmp isr_common */
	.align 16
	.globl isr_stubs
isr_stubs:
	.set v, 0
	.rept 256
	.align 16
	.if (v == 8) || (v == 10) || (v == 11) || (v == 12) || (v == 13) || (v == 14) || (v == 17)
	.else
	pushq	$0
	.endif
	pushq	$v
	jmp	isr_common
	.set v, v + 1
	.endr

	.section .data
	.align 16
gdt:	.quad 0
	.quad 0x00af9b000000ffff	/* 0x08: 64-bit code */
	.quad 0x00cf93000000ffff	/* 0x10: data */
gdt_end:
gdt_descr:
	.word gdt_end - gdt - 1
	.quad gdt
	.globl idt
	.align 16
idt:	.fill 256 * 16, 1, 0
idt_descr:
	.word 256 * 16 - 1
	.quad idt
	.section .bss
	.align 16
	.fill 16384, 1, 0
stack_top:
