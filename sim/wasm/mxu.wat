;; The simulator's MXU tile on WebAssembly SIMD (mm_s8, mm_u8, with the weight load wload) and the VPU's widening
;; multiplies (vmacr, vmulr_vx, vmulr_vv, at the end), working in place on the machine's memories: a Machine on this
;; engine (sim/wasm-mxu.ts) keeps its scratchpad, accumulators, the two weight buffers and its vector registers in the
;; instance's memory, so an mxu.mm copies nothing in or out. matmulTile in sim/exec.ts and mulAddRoundShift in
;; sim/intops.ts stay the definitions and are tested equal. Deliberately a
;; separate module from the reference's (kernels/ref/wasm/gemm.wat), so that the simulator and the oracle it is
;; checked against share no code.
;;   mm_s8 / mm_u8 (x, xs, rows, w, ws, kp, n, o, os, acc): for r < rows, j < n
;;     o[r*os + 4j] = (acc ? o[..] : 0) + sum_kk x[r*xs + kk] * w[j*ws + 2kk]   (byte addresses; strides may be negative)
;;   x: int8 / uint8 scratchpad bytes; w: int16 weight columns, ws bytes apart, zero from k up to kp (kp: k rounded up to
;;   8 lanes, so the x bytes read past a row's k meet zero weights and add nothing); o: int32 accumulators, os bytes
;;   apart. Exact: each dot product is below 2^25 in magnitude (|x*w| <= 255*128, k <= 1024); the addition to the
;;   accumulator wraps to int32 as the hardware's adders do. Blocked 2 rows x 4 columns, i32x4.dot_i16x8_s doing 8
;;   MACs per instruction; only outputs j < n and r < rows are written. The caller leaves at least 8 bytes of memory
;;   after the scratchpad (the reads past k) and weight columns up to n rounded up to 4 (never stored).
;;   Horizontal sums by shuffles: a = lo32(c0,c1) + hi32(c0,c1) = [c0.0+c0.2, c1.0+c1.2, c0.1+c0.3, c1.1+c1.3], b the
;;   same of c2, c3; lo64(a,b) + hi64(a,b) = [sum c0, sum c1, sum c2, sum c3].
(module
  (memory (export "memory") 1)

  ;; four int32 results at p: stored, or added with int32 wrap-around when acc is 1
  (func $put4 (param $p i32) (param $acc i32) (param $r v128)
    (if (local.get $acc) (then (local.set $r (i32x4.add (local.get $r) (v128.load (local.get $p))))))
    (v128.store (local.get $p) (local.get $r)))

  ;; the first cnt (1..3) of four results at p, the same way (the last, partial column block of a tile)
  (func $put (param $p i32) (param $acc i32) (param $r v128) (param $cnt i32)
    (if (local.get $acc) (then (local.set $r (i32x4.add (local.get $r) (v128.load (local.get $p))))))
    (i32.store offset=0 (local.get $p) (i32x4.extract_lane 0 (local.get $r)))
    (if (i32.gt_s (local.get $cnt) (i32.const 1)) (then (i32.store offset=4 (local.get $p) (i32x4.extract_lane 1 (local.get $r)))))
    (if (i32.gt_s (local.get $cnt) (i32.const 2)) (then (i32.store offset=8 (local.get $p) (i32x4.extract_lane 2 (local.get $r))))))

;; wload (src, js, ks, k, n, dst, ds): the weight buffer at dst as mxu.wload leaves it: for j < n, int16 column j (ds bytes
  ;; apart) holds the int8 scratchpad bytes W[j][kk] = src[j*js + kk*ks] for kk < k and zeros up to ds / 2. Rows of
  ;; contiguous bytes (ks = 1) widen 8 at a time (v128.load8x8_s reads up to 7 bytes past a row: see the layout in
  ;; sim/wasm-mxu.ts); the zeros past k are written after, over what those lanes brought.
  (func (export "wload") (param $src i32) (param $js i32) (param $ks i32) (param $k i32) (param $n i32) (param $dst i32) (param $ds i32)
    (local $j i32) (local $kk i32) (local $ps i32) (local $pd i32)
    (block $jdone
      (loop $jloop
        (br_if $jdone (i32.ge_s (local.get $j) (local.get $n)))
        (local.set $ps (i32.add (local.get $src) (i32.mul (local.get $j) (local.get $js))))
        (local.set $pd (i32.add (local.get $dst) (i32.mul (local.get $j) (local.get $ds))))
        (local.set $kk (i32.const 0))
        (if (i32.eq (local.get $ks) (i32.const 1))
          (then
            (loop $vloop
              (v128.store (i32.add (local.get $pd) (i32.shl (local.get $kk) (i32.const 1)))
                (v128.load8x8_s (i32.add (local.get $ps) (local.get $kk))))
              (local.set $kk (i32.add (local.get $kk) (i32.const 8)))
              (br_if $vloop (i32.lt_s (local.get $kk) (local.get $k))))
            (local.set $kk (local.get $k)))
          (else
            (block $sdone
              (loop $sloop
                (br_if $sdone (i32.ge_s (local.get $kk) (local.get $k)))
                (i32.store16 (i32.add (local.get $pd) (i32.shl (local.get $kk) (i32.const 1)))
                  (i32.load8_s (i32.add (local.get $ps) (i32.mul (local.get $kk) (local.get $ks)))))
                (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
                (br $sloop)))))
        (block $zdone
          (loop $zloop
            (br_if $zdone (i32.ge_s (i32.shl (local.get $kk) (i32.const 1)) (local.get $ds)))
            (i32.store16 (i32.add (local.get $pd) (i32.shl (local.get $kk) (i32.const 1))) (i32.const 0))
            (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
            (br $zloop)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jloop))))

  ;; mm_s8: acc rows (+)= x rows . w^T in place, signed input bytes (v128.load8x8_s widens 8 bytes to
  ;; i16x8 lanes for i32x4.dot_i16x8_s).
  (func (export "mm_s8") (param $x i32) (param $xs i32) (param $rows i32) (param $w i32) (param $ws i32) (param $kp i32)
    (param $n i32) (param $o i32) (param $os i32) (param $acc i32)
    (local $m i32) (local $j i32) (local $k i32) (local $two i32)
    (local $px0 i32) (local $px1 i32) (local $pw0 i32) (local $pw1 i32) (local $pw2 i32) (local $pw3 i32) (local $po i32) (local $pk i32)
    (local $x0 v128) (local $x1 v128) (local $v v128) (local $a v128) (local $b v128) (local $r0 v128) (local $r1 v128)
    (local $c00 v128) (local $c01 v128) (local $c02 v128) (local $c03 v128)
    (local $c10 v128) (local $c11 v128) (local $c12 v128) (local $c13 v128)
    (block $mdone
      (loop $mloop
        (br_if $mdone (i32.ge_s (local.get $m) (local.get $rows)))
        (local.set $px0 (i32.add (local.get $x) (i32.mul (local.get $m) (local.get $xs))))
        ;; an odd last row computes its row twice and stores it once: no read of a row past the operand
        (local.set $two (i32.lt_s (i32.add (local.get $m) (i32.const 1)) (local.get $rows)))
        (local.set $px1 (select (i32.add (local.get $px0) (local.get $xs)) (local.get $px0) (local.get $two)))
        (local.set $j (i32.const 0))
        (block $ndone
          (loop $nloop
            (br_if $ndone (i32.ge_s (local.get $j) (local.get $n)))
            (local.set $pw0 (i32.add (local.get $w) (i32.mul (local.get $j) (local.get $ws))))
            (local.set $pw1 (i32.add (local.get $pw0) (local.get $ws)))
            (local.set $pw2 (i32.add (local.get $pw1) (local.get $ws)))
            (local.set $pw3 (i32.add (local.get $pw2) (local.get $ws)))
            (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
            (local.set $c02 (v128.const i32x4 0 0 0 0)) (local.set $c03 (v128.const i32x4 0 0 0 0))
            (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
            (local.set $c12 (v128.const i32x4 0 0 0 0)) (local.set $c13 (v128.const i32x4 0 0 0 0))
            (local.set $k (i32.const 0))
            (loop $kloop
              (local.set $x0 (v128.load8x8_s (i32.add (local.get $px0) (local.get $k))))
              (local.set $x1 (v128.load8x8_s (i32.add (local.get $px1) (local.get $k))))
              (local.set $pk (i32.shl (local.get $k) (i32.const 1)))
              (local.set $v (v128.load (i32.add (local.get $pw0) (local.get $pk))))
              (local.set $c00 (i32x4.add (local.get $c00) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
              (local.set $c10 (i32x4.add (local.get $c10) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
              (local.set $v (v128.load (i32.add (local.get $pw1) (local.get $pk))))
              (local.set $c01 (i32x4.add (local.get $c01) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
              (local.set $c11 (i32x4.add (local.get $c11) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
              (local.set $v (v128.load (i32.add (local.get $pw2) (local.get $pk))))
              (local.set $c02 (i32x4.add (local.get $c02) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
              (local.set $c12 (i32x4.add (local.get $c12) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
              (local.set $v (v128.load (i32.add (local.get $pw3) (local.get $pk))))
              (local.set $c03 (i32x4.add (local.get $c03) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
              (local.set $c13 (i32x4.add (local.get $c13) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
              (local.set $k (i32.add (local.get $k) (i32.const 8)))
              (br_if $kloop (i32.lt_s (local.get $k) (local.get $kp))))
            ;; horizontal sums of four accumulators into one vector [c0, c1, c2, c3], by shuffles (see the header)
            (local.set $a (i32x4.add (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c00) (local.get $c01))
                                     (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c00) (local.get $c01))))
            (local.set $b (i32x4.add (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c02) (local.get $c03))
                                     (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c02) (local.get $c03))))
            (local.set $r0 (i32x4.add (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $b))
                                      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $b))))
            (local.set $a (i32x4.add (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c10) (local.get $c11))
                                     (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c10) (local.get $c11))))
            (local.set $b (i32x4.add (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c12) (local.get $c13))
                                     (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c12) (local.get $c13))))
            (local.set $r1 (i32x4.add (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $b))
                                      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $b))))
            (local.set $po (i32.add (local.get $o) (i32.add (i32.mul (local.get $m) (local.get $os)) (i32.shl (local.get $j) (i32.const 2)))))
            (if (i32.ge_s (i32.sub (local.get $n) (local.get $j)) (i32.const 4))
              (then
                (call $put4 (local.get $po) (local.get $acc) (local.get $r0))
                (if (local.get $two) (then (call $put4 (i32.add (local.get $po) (local.get $os)) (local.get $acc) (local.get $r1)))))
              (else
                (call $put (local.get $po) (local.get $acc) (local.get $r0) (i32.sub (local.get $n) (local.get $j)))
                (if (local.get $two) (then (call $put (i32.add (local.get $po) (local.get $os)) (local.get $acc) (local.get $r1) (i32.sub (local.get $n) (local.get $j)))))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $nloop)))
        (local.set $m (i32.add (local.get $m) (i32.const 2)))
        (br $mloop))))

  ;; mm_u8: acc rows (+)= x rows . w^T in place, unsigned input bytes (v128.load8x8_u widens 8 bytes to
  ;; i16x8 lanes for i32x4.dot_i16x8_s).
  (func (export "mm_u8") (param $x i32) (param $xs i32) (param $rows i32) (param $w i32) (param $ws i32) (param $kp i32)
    (param $n i32) (param $o i32) (param $os i32) (param $acc i32)
    (local $m i32) (local $j i32) (local $k i32) (local $two i32)
    (local $px0 i32) (local $px1 i32) (local $pw0 i32) (local $pw1 i32) (local $pw2 i32) (local $pw3 i32) (local $po i32) (local $pk i32)
    (local $x0 v128) (local $x1 v128) (local $v v128) (local $a v128) (local $b v128) (local $r0 v128) (local $r1 v128)
    (local $c00 v128) (local $c01 v128) (local $c02 v128) (local $c03 v128)
    (local $c10 v128) (local $c11 v128) (local $c12 v128) (local $c13 v128)
    (block $mdone
      (loop $mloop
        (br_if $mdone (i32.ge_s (local.get $m) (local.get $rows)))
        (local.set $px0 (i32.add (local.get $x) (i32.mul (local.get $m) (local.get $xs))))
        ;; an odd last row computes its row twice and stores it once: no read of a row past the operand
        (local.set $two (i32.lt_s (i32.add (local.get $m) (i32.const 1)) (local.get $rows)))
        (local.set $px1 (select (i32.add (local.get $px0) (local.get $xs)) (local.get $px0) (local.get $two)))
        (local.set $j (i32.const 0))
        (block $ndone
          (loop $nloop
            (br_if $ndone (i32.ge_s (local.get $j) (local.get $n)))
            (local.set $pw0 (i32.add (local.get $w) (i32.mul (local.get $j) (local.get $ws))))
            (local.set $pw1 (i32.add (local.get $pw0) (local.get $ws)))
            (local.set $pw2 (i32.add (local.get $pw1) (local.get $ws)))
            (local.set $pw3 (i32.add (local.get $pw2) (local.get $ws)))
            (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
            (local.set $c02 (v128.const i32x4 0 0 0 0)) (local.set $c03 (v128.const i32x4 0 0 0 0))
            (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
            (local.set $c12 (v128.const i32x4 0 0 0 0)) (local.set $c13 (v128.const i32x4 0 0 0 0))
            (local.set $k (i32.const 0))
            (loop $kloop
              (local.set $x0 (v128.load8x8_u (i32.add (local.get $px0) (local.get $k))))
              (local.set $x1 (v128.load8x8_u (i32.add (local.get $px1) (local.get $k))))
              (local.set $pk (i32.shl (local.get $k) (i32.const 1)))
              (local.set $v (v128.load (i32.add (local.get $pw0) (local.get $pk))))
              (local.set $c00 (i32x4.add (local.get $c00) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
              (local.set $c10 (i32x4.add (local.get $c10) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
              (local.set $v (v128.load (i32.add (local.get $pw1) (local.get $pk))))
              (local.set $c01 (i32x4.add (local.get $c01) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
              (local.set $c11 (i32x4.add (local.get $c11) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
              (local.set $v (v128.load (i32.add (local.get $pw2) (local.get $pk))))
              (local.set $c02 (i32x4.add (local.get $c02) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
              (local.set $c12 (i32x4.add (local.get $c12) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
              (local.set $v (v128.load (i32.add (local.get $pw3) (local.get $pk))))
              (local.set $c03 (i32x4.add (local.get $c03) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
              (local.set $c13 (i32x4.add (local.get $c13) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
              (local.set $k (i32.add (local.get $k) (i32.const 8)))
              (br_if $kloop (i32.lt_s (local.get $k) (local.get $kp))))
            ;; horizontal sums of four accumulators into one vector [c0, c1, c2, c3], by shuffles (see the header)
            (local.set $a (i32x4.add (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c00) (local.get $c01))
                                     (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c00) (local.get $c01))))
            (local.set $b (i32x4.add (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c02) (local.get $c03))
                                     (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c02) (local.get $c03))))
            (local.set $r0 (i32x4.add (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $b))
                                      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $b))))
            (local.set $a (i32x4.add (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c10) (local.get $c11))
                                     (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c10) (local.get $c11))))
            (local.set $b (i32x4.add (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c12) (local.get $c13))
                                     (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c12) (local.get $c13))))
            (local.set $r1 (i32x4.add (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $b))
                                      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $b))))
            (local.set $po (i32.add (local.get $o) (i32.add (i32.mul (local.get $m) (local.get $os)) (i32.shl (local.get $j) (i32.const 2)))))
            (if (i32.ge_s (i32.sub (local.get $n) (local.get $j)) (i32.const 4))
              (then
                (call $put4 (local.get $po) (local.get $acc) (local.get $r0))
                (if (local.get $two) (then (call $put4 (i32.add (local.get $po) (local.get $os)) (local.get $acc) (local.get $r1)))))
              (else
                (call $put (local.get $po) (local.get $acc) (local.get $r0) (i32.sub (local.get $n) (local.get $j)))
                (if (local.get $two) (then (call $put (i32.add (local.get $po) (local.get $os)) (local.get $acc) (local.get $r1) (i32.sub (local.get $n) (local.get $j)))))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $nloop)))
        (local.set $m (i32.add (local.get $m) (i32.const 2)))
        (br $mloop))))

  ;; ---- The VPU's widening multiplies with a rounding right shift (vmacr, vmulr.vx, vmulr.vv), in place on the vector
  ;; registers: sat(round((a * b + c) / 2^s)) per lane, the definition being mulAddRoundShift in sim/intops.ts (tested
  ;; equal). Exact by construction: a*b + c of int32s is at most 2^62 + 2^31 in magnitude, an i64 holds it.

  ;; round p / 2^s (s in 0..127) in rmode (0 floor, 1 rne, 2 rhaz, 3 trunc), then saturate (0 wrap32, 1 sat8, 2 sat16,
  ;; 3 sat32). q = p >> s (floor), r = p & (2^s - 1) in [0, 2^s), half = 2^(s-1); p < 0 exactly when q < 0. For
  ;; s >= 64 |p / 2^s| < 1/2: floor gives -1 for p < 0, every other mode 0.
  (func $rnd (param $p i64) (param $s i32) (param $rm i32) (param $sat i32) (result i32)
    (local $q i64) (local $r i64) (local $h i64) (local $lo i64) (local $hi i64)
    (if (i32.ge_u (local.get $s) (i32.const 64))
      (then (return (select (i32.const -1) (i32.const 0)
        (i32.and (i32.eqz (local.get $rm)) (i64.lt_s (local.get $p) (i64.const 0)))))))
    (local.set $q (local.get $p))
    (if (local.get $s)
      (then
        (local.set $q (i64.shr_s (local.get $p) (i64.extend_i32_u (local.get $s))))
        (local.set $r (i64.and (local.get $p) (i64.sub (i64.shl (i64.const 1) (i64.extend_i32_u (local.get $s))) (i64.const 1))))
        (local.set $h (i64.shl (i64.const 1) (i64.extend_i32_u (i32.sub (local.get $s) (i32.const 1)))))
        (if (i32.eq (local.get $rm) (i32.const 1))
          (then (local.set $q (i64.add (local.get $q) (i64.extend_i32_u
            (i32.or (i64.gt_u (local.get $r) (local.get $h))
                    (i32.and (i64.eq (local.get $r) (local.get $h)) (i32.wrap_i64 (i64.and (local.get $q) (i64.const 1))))))))))
        (if (i32.eq (local.get $rm) (i32.const 2))
          (then (local.set $q (i64.add (local.get $q) (i64.extend_i32_u
            (i32.or (i64.gt_u (local.get $r) (local.get $h))
                    (i32.and (i64.eq (local.get $r) (local.get $h)) (i64.ge_s (local.get $q) (i64.const 0)))))))))
        (if (i32.eq (local.get $rm) (i32.const 3))
          (then (local.set $q (i64.add (local.get $q) (i64.extend_i32_u
            (i32.and (i64.lt_s (local.get $q) (i64.const 0)) (i64.ne (local.get $r) (i64.const 0))))))))))
    (if (i32.eqz (local.get $sat)) (then (return (i32.wrap_i64 (local.get $q)))))
    (local.set $lo (i64.const -2147483648))
    (local.set $hi (i64.const 2147483647))
    (if (i32.eq (local.get $sat) (i32.const 1)) (then (local.set $lo (i64.const -128)) (local.set $hi (i64.const 127))))
    (if (i32.eq (local.get $sat) (i32.const 2)) (then (local.set $lo (i64.const -32768)) (local.set $hi (i64.const 32767))))
    (if (i64.lt_s (local.get $q) (local.get $lo)) (then (return (i32.wrap_i64 (local.get $lo)))))
    (if (i64.gt_s (local.get $q) (local.get $hi)) (then (return (i32.wrap_i64 (local.get $hi)))))
    (i32.wrap_i64 (local.get $q)))

  ;; vmacr: lanes d[i] = rnd(a[i] * b[i] + c[i], s) for i < n (byte addresses of lane 0; d may be a, b or c: lane i is
  ;; read before it is written)
  (func (export "vmacr") (param $d i32) (param $a i32) (param $b i32) (param $c i32) (param $n i32) (param $s i32) (param $rm i32) (param $sat i32)
    (local $o i32) (local $end i32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $lanes
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (i32.store (i32.add (local.get $d) (local.get $o))
          (call $rnd
            (i64.add
              (i64.mul (i64.extend_i32_s (i32.load (i32.add (local.get $a) (local.get $o))))
                       (i64.extend_i32_s (i32.load (i32.add (local.get $b) (local.get $o)))))
              (i64.extend_i32_s (i32.load (i32.add (local.get $c) (local.get $o)))))
            (local.get $s) (local.get $rm) (local.get $sat)))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $lanes))))

  ;; vmulr.vx: lanes d[i] = rnd(a[i] * mul, s)
  (func (export "vmulr_vx") (param $d i32) (param $a i32) (param $mul i32) (param $n i32) (param $s i32) (param $rm i32) (param $sat i32)
    (local $o i32) (local $end i32) (local $m i64)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $m (i64.extend_i32_s (local.get $mul)))
    (block $done
      (loop $lanes
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (i32.store (i32.add (local.get $d) (local.get $o))
          (call $rnd
            (i64.mul (i64.extend_i32_s (i32.load (i32.add (local.get $a) (local.get $o)))) (local.get $m))
            (local.get $s) (local.get $rm) (local.get $sat)))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $lanes))))

  ;; vmulr.vv: lanes d[i] = rnd(a[i] * b[i], s[i]) (the caller checked every s[i] in 0..127)
  (func (export "vmulr_vv") (param $d i32) (param $a i32) (param $b i32) (param $sh i32) (param $n i32) (param $rm i32) (param $sat i32)
    (local $o i32) (local $end i32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $lanes
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (i32.store (i32.add (local.get $d) (local.get $o))
          (call $rnd
            (i64.mul (i64.extend_i32_s (i32.load (i32.add (local.get $a) (local.get $o))))
                     (i64.extend_i32_s (i32.load (i32.add (local.get $b) (local.get $o)))))
            (i32.load (i32.add (local.get $sh) (local.get $o))) (local.get $rm) (local.get $sat)))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (br $lanes))))
)
