; dot.s: s = sum_i a[i] * b[i] for N int8 elements, the result as one int32 in DRAM.
;
; What it shows: a lane-wise multiply-accumulate into a vector register across the loop, and ONE lane
; reduction (vredsum) at the end, instead of a reduction per pass whose 6-cycle latency the loop would
; wait for each time. Then the idiom for getting a scalar register out to memory: broadcast it into a
; vector, store one lane (vl = 1) to the accumulator memory, and DMA that word to DRAM.
;
; Exactness: each product is at most 128*128 = 2^14 in magnitude, and each lane adds ceil(N/lanes) of
; them, so the lane sums stay exact while N/lanes < 2^17; the final sum wraps to int32 like vredsum does
; (it cannot for N < 2^17).
;
; Run:  intnpu run examples/dot.s --set a=a.json --set b=b.json --dump s:int32
; Cycles on edge: the two loads, 2*ceil(N/16) cycles plus the 100-cycle latency; about 10 front-end cycles
; per pass of 32 lanes (9 instructions and a taken-branch bubble); then ~20 cycles for the reduction and the
; scalar's way out, and the 4-byte store's latency.

.param N, 1000
.buffer a,   dram, N
.buffer b,   dram, N
.buffer s,   dram, 4              ; the int32 result
.buffer sa,  spad, N
.buffer sb,  spad, N
.buffer out, acc,  1              ; one int32 word on chip for the result

    li   r1, 1
    li   r2, N
    li   r3, sa
    li   r4, a
    dma.ld spad, r3, r4, r1, r2, r2, r2
    li   r3, sb
    li   r4, b
    dma.ld spad, r3, r4, r1, r2, r2, r2

    li   r9, 0x7fffffff
    vsetvl r0, r9                 ; every lane active (vl = lanes) ...
    vbcast v4, zero               ; ... to clear the whole accumulator vector

    li   r10, sa
    li   r11, sb
    li   r13, N                   ; elements left
loop:
    vsetvl r16, r13               ; the last pass may be partial: lanes >= vl keep their sums
    vld.s8 v1, r10, 0
    vld.s8 v2, r11, 0
    vmul   v3, v1, v2             ; exact: |a*b| <= 2^14
    vadd   v4, v4, v3             ; per-lane running sums
    add  r10, r10, r16
    add  r11, r11, r16
    sub  r13, r13, r16
    blt  zero, r13, loop

    vsetvl r0, r9                 ; all lanes again for the one reduction
    vredsum r20, v4               ; r20 = sum of the lane sums (the adder tree, once)

    li   r5, 1
    vsetvl r0, r5                 ; one lane
    vbcast v5, r20
    li   r3, out
    vst.acc v5, r3, 0             ; acc[out] = r20
    li   r4, s
    dma.st acc, r3, r4, r1, r1, r1, r1   ; one row of one word to DRAM
    halt
