//! `memset` for the kernel image. The compiler calls it for every block it fills
//! (a fresh `lwp` structure's zeroed fields, say); `compiler_builtins`' own, which
//! it would link otherwise (its symbols are weak), stores one word per round of a
//! five-instruction loop and leaves delay slots empty. This one aligns the
//! destination with byte stores, then stores four words a round, then what is
//! left a word and a byte at a time: about a third of the instructions for a
//! block of a few hundred bytes. A leaf routine on the out registers: no window,
//! no stack, callable from any code the compiler makes, interrupts on or off.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .text.memset, "ax"
    .align  32
    ! memset(dst, c, n) -> dst: the n bytes from dst made the low byte of c.
    .globl  memset
    .type   memset, #function
memset:
    mov     %o0, %o5                    ! what it returns; %o0 walks
    cmp     %o2, 16
    blu,pn  %xcc, 4f                    ! a short block: byte by byte
     and    %o1, 0xff, %o1
    sllx    %o1, 8, %o3                 ! the byte in every byte of a word
    or      %o1, %o3, %o1
    sllx    %o1, 16, %o3
    or      %o1, %o3, %o1
    sllx    %o1, 32, %o3
    or      %o1, %o3, %o1
1:  andcc   %o0, 7, %g0                 ! bytes up to a word boundary (at most 7)
    bz,pt   %xcc, 2f
     cmp    %o2, 32
    stb     %o1, [%o0]
    sub     %o2, 1, %o2
    ba,pt   %xcc, 1b
     add    %o0, 1, %o0
2:  blu,pn  %xcc, 3f                    ! (the flags of `cmp %o2, 32`)
     cmp    %o2, 8
5:  stx     %o1, [%o0 + 0]              ! four words a round
    stx     %o1, [%o0 + 8]
    stx     %o1, [%o0 + 16]
    stx     %o1, [%o0 + 24]
    sub     %o2, 32, %o2
    cmp     %o2, 32
    bgeu,pt %xcc, 5b
     add    %o0, 32, %o0
    cmp     %o2, 8
3:  blu,pn  %xcc, 4f                    ! (the flags of `cmp %o2, 8`)
     nop
6:  stx     %o1, [%o0]                  ! a word a round
    sub     %o2, 8, %o2
    cmp     %o2, 8
    bgeu,pt %xcc, 6b
     add    %o0, 8, %o0
4:  brz,pn  %o2, 8f                     ! the bytes left
     nop
7:  stb     %o1, [%o0]
    subcc   %o2, 1, %o2
    bnz,pt  %xcc, 7b
     add    %o0, 1, %o0
8:  retl
     mov    %o5, %o0
    .size   memset, . - memset
"#
);
