; vadd_sat.s: c[i] = sat8(a[i] + b[i]) for N int8 elements, on any machine (any lane count).
;
; What it shows: .param for the size, .buffer in DRAM and scratchpad, one DMA per operand, a strip-mined
; vector loop whose last pass handles the remainder with vsetvl, and saturation with vclamp. The lanes are
; int32, so a + b never overflows there; vclamp brings the sum back into int8 before the narrowing store.
;
; Run:  intnpu run examples/vadd_sat.s --set a=a.json --set b=b.json --dump c
;       (a.json: a bare JSON array of int8 values, or {"dtype": "int8", "data": [...]})
; Cycles on edge (16 B/cycle DRAM, 100-cycle latency, 32 lanes): the two loads share the DRAM channel,
; 2*ceil(N/16) cycles plus the latency; then about 12 front-end cycles per pass of 32 lanes (11
; instructions and a taken-branch bubble); then the store, ceil(N/16) cycles plus the latency.

.param N, 100                 ; elements (override with --param N=...)
.buffer a,  dram, N           ; inputs and output in DRAM, one byte each
.buffer b,  dram, N
.buffer c,  dram, N
.buffer sa, spad, N           ; their scratchpad copies
.buffer sb, spad, N
.buffer sc, spad, N

    li   r1, 1                ; DMA: one row ...
    li   r2, N                ; ... of N bytes (also both strides: unused with one row)
    li   r3, sa
    li   r4, a
    dma.ld spad, r3, r4, r1, r2, r2, r2
    li   r3, sb
    li   r4, b
    dma.ld spad, r3, r4, r1, r2, r2, r2

    li   r10, sa              ; read pointers, write pointer
    li   r11, sb
    li   r12, sc
    li   r13, N               ; elements left
    li   r14, -128            ; int8 range for the saturation
    li   r15, 127
loop:
    vsetvl r16, r13           ; vl = min(left, lanes): the last pass is the remainder
    vld.s8 v1, r10, 0         ; vld waits for the DMA above by itself (hazards are tracked in hardware)
    vld.s8 v2, r11, 0
    vadd   v3, v1, v2         ; exact in int32 lanes
    vclamp v3, v3, r14, r15   ; saturate to -128..127
    vst.s8 v3, r12, 0         ; narrow to bytes
    add  r10, r10, r16        ; advance by vl
    add  r11, r11, r16
    add  r12, r12, r16
    sub  r13, r13, r16
    blt  zero, r13, loop      ; while elements are left

    li   r3, sc
    li   r4, c
    dma.st spad, r3, r4, r1, r2, r2, r2
    halt
