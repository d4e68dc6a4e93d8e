; matmul.s: y[M,N] (int32) = x[M,K] (int8) . w[N,K]^T (int8), tiled for the MXU, weights double-buffered.
;
; What it shows: the weight-stationary MXU. A weight tile of T output columns by T reduction rows is
; DMA'd into the scratchpad, preloaded into the array (mxu.wload), and the M rows of x stream through it
; (mxu.mm), accumulating into int32 accumulator memory: `ovw` for the first K tile, `acc` for the rest.
;
; Double buffering, twice: the weights have two scratchpad slots, so the DMA of the next tile writes one
; slot while the array still preloads from the other (with one slot it would wait for that read); and the
; accumulator has two tiles, so the store of one column tile drains to DRAM while the next accumulates.
; Nothing else is needed: the front end runs ahead into the per-unit queues and the hardware tracks every
; read-after-write and write-after-read hazard between the DMA, the MXU and the stores.
;
; Requires K and N to be multiples of T = 32, and an MXU of at least 32x32 (edge and server both are).
; Run:  intnpu run examples/matmul.s --set x=x.json --set w=w.json --dump y:int32
; Cycles: DRAM-bound on edge. It moves M*K + N*K + 4*M*N bytes at 16 B/cycle, which with the first load's
; and the last store's latency (100 cycles each) is a lower bound; the run stays within 20 % of it. The
; gap: one store of a whole [M][T] tile holds the DRAM channel (512 cycles for M = 64) while the next
; weight tiles wait behind it; programs/linear/build.ts splits its stores into row pieces for that reason.

.param M, 64
.param K, 64
.param N, 64
.equ T, 32                            ; tile edge (array rows used = K per tile, columns = N per tile)
.equ KT, K / T                        ; K tiles
.equ NT, N / T                        ; column tiles
.buffer x,     dram, M * K
.buffer w,     dram, N * K            ; [N][K]: the layout of a linear layer's weight
.buffer y,     dram, M * N * 4
.buffer xs,    spad, M * K            ; all of x stays on chip, loaded once
.buffer wslot, spad, 2 * T * T        ; two weight slots of [T][T]
.buffer yacc,  acc,  2 * M * T        ; two accumulator tiles of [M][T] int32 words

    li   r1, xs
    li   r2, x
    li   r3, M
    li   r4, K
    dma.ld spad, r1, r2, r3, r4, r4, r4   ; M rows of K bytes

    li   r20, w                       ; DRAM address of the current weight tile's first row
    li   r21, NT                      ; column tiles left
    li   r22, wslot                   ; the slot to fill next ...
    li   r23, wslot + T * T           ; ... and the other one
    li   r24, yacc                    ; the accumulator tile of this column tile ...
    li   r25, yacc + M * T            ; ... and the other one
    li   r26, T
    li   r27, M
    li   r28, K
    li   r29, y                       ; DRAM address of this column tile's output
    li   r30, N * 4                   ; output row pitch in bytes
column:
    ; first K tile: overwrite the accumulators
    li   r11, xs                      ; x columns k0..k0+T-1 start here (row pitch K)
    dma.ld spad, r22, r20, r26, r26, r26, r28   ; T weight rows (n) of T bytes (k), DRAM row pitch K
    mxu.wload r22, r26, r26, r26                ; preload [T][T] from the slot: stride T, k = T, n = T
    mxu.mm r24, r11, r27, r26, r28, ovw         ; M rows of x (pitch K) -> acc tile (pitch T)
    add  r9, r22, zero                ; swap the weight slots
    add  r22, r23, zero
    add  r23, r9, zero
    li   r12, KT - 1                  ; remaining K tiles
    add  r13, r20, r26                ; DRAM address of the next K tile of this weight row block
    beq  r12, zero, store
ktile:
    addi r11, r11, T
    dma.ld spad, r22, r13, r26, r26, r26, r28   ; the next tile, into the free slot
    mxu.wload r22, r26, r26, r26
    mxu.mm r24, r11, r27, r26, r28, acc         ; accumulate
    add  r9, r22, zero
    add  r22, r23, zero
    add  r23, r9, zero
    add  r13, r13, r26
    dbnz r12, ktile
store:
    dma.st acc, r24, r29, r27, r26, r26, r30    ; M rows of T words into y[:, n0:n0+T]
    add  r9, r24, zero                ; swap the accumulator tiles
    add  r24, r25, zero
    add  r25, r9, zero
    li   r9, T * K
    add  r20, r20, r9                 ; next column tile: T weight rows further
    addi r29, r29, T * 4              ; and T output columns further
    dbnz r21, column
    halt
