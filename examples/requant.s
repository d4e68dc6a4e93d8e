; requant.s: y[i] = sat8(round_half_even(x[i] * MULT / 2^SHIFT)) for N int32 accumulator values.
;
; What it shows: the requantization step of an integer network (int32 accumulators back to int8 with a
; fixed-point multiplier MULT and a shift SHIFT folded from the scales, as in I-BERT's QuantAct), done by
; one instruction: vmulr.vx multiplies into an exact 64-bit product, shifts it right with rounding (rne:
; ties to even) and saturates (sat8). int32 data goes through the accumulator memory (acc, int32 words);
; the int8 result through the scratchpad.
;
; Run:  intnpu run examples/requant.s --param MULT=1518500250 --param SHIFT=36 \
;         --set x=x.json:int32 --dump y
; Cycles on edge: the load, ceil(4N/16) cycles plus the 100-cycle latency; about 9 front-end cycles per pass
; of 32 lanes (8 instructions and a taken-branch bubble); the store, ceil(N/16) cycles plus the latency.

.param N, 256
.param MULT, 1518500250           ; 0.7071... * 2^31: the multiplier of a scale ratio
.param SHIFT, 36                  ; y = x * MULT / 2^36 = x * 0.7071 / 32
.buffer x,  dram, N * 4           ; int32 input, little-endian
.buffer y,  dram, N               ; int8 output
.buffer ax, acc,  N               ; sizes in acc are int32 words
.buffer sy, spad, N

    li   r1, 1
    li   r2, N
    li   r3, ax
    li   r4, x
    dma.ld acc, r3, r4, r1, r2, r2, r2    ; N words: the DMA converts bytes to words for acc

    li   r5, MULT
    li   r6, SHIFT
    li   r10, ax
    li   r12, sy
    li   r13, N
loop:
    vsetvl r16, r13
    vld.acc v1, r10, 0
    vmulr.vx v2, v1, r5, r6, rne, sat8    ; exact 64-bit product, rounding shift, saturation
    vst.s8   v2, r12, 0
    add  r10, r10, r16
    add  r12, r12, r16
    sub  r13, r13, r16
    blt  zero, r13, loop

    li   r3, sy
    li   r4, y
    dma.st spad, r3, r4, r1, r2, r2, r2
    halt
