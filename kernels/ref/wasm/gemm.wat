;; The reference's matrix products in WebAssembly SIMD (kernels/ref/wasm-gemm.ts loads it; the TypeScript
;; loops in linear.ts and float-ref.ts stay the definition and are tested equal). Independent of the
;; simulator's module (sim/wasm/mxu.wat) so that the oracle and the simulator share no code.
;; Operands are copied in by the caller, padded so that no edge cases remain here:
;;   gemm_i16: A [mp][kp] and B [np][kp] int16 (kp a multiple of 8, mp of 2, np of 4, padding zero),
;;             out [mp][np] int32 = A . B^T. i32x4.dot_i16x8_s does 8 MACs; sums wrap like int32 adders
;;             (the callers prove |dot| < 2^31, so they are exact).
;;   gemm_f64: x [tp][k] and w [np][k] float64 (tp, np even), bias [np], out [tp][np]. The summation order
;;             is linearFloat's exactly: four partial sums s0..s3 over k = 0,1,2,3 (mod 4) up to the last
;;             multiple of 4 (f64x2 lanes (s0,s1) and (s2,s3), a separate multiply then add, no fusion),
;;             the remaining k added to s0 in order, then (((s0 + s1) + s2) + s3) + bias. Same doubles.
(module
  (memory (export "memory") 1)

  (func $hsum (param $v v128) (result i32)
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 1 (local.get $v)))
      (i32.add (i32x4.extract_lane 2 (local.get $v)) (i32x4.extract_lane 3 (local.get $v)))))

  (func (export "gemm_i16") (param $a i32) (param $b i32) (param $mp i32) (param $np i32) (param $kp i32) (param $o i32)
    (local $rs i32) (local $m i32) (local $n i32) (local $k i32) (local $ob i32)
    (local $pa0 i32) (local $pa1 i32) (local $pb0 i32) (local $pb1 i32) (local $pb2 i32) (local $pb3 i32) (local $po i32)
    (local $x0 v128) (local $x1 v128) (local $w v128)
    (local $c00 v128) (local $c01 v128) (local $c02 v128) (local $c03 v128)
    (local $c10 v128) (local $c11 v128) (local $c12 v128) (local $c13 v128)
    (local.set $rs (i32.shl (local.get $kp) (i32.const 1)))
    (local.set $ob (i32.shl (local.get $np) (i32.const 2)))
    (local.set $m (i32.const 0))
    (block $mdone
      (loop $mloop
        (br_if $mdone (i32.ge_u (local.get $m) (local.get $mp)))
        (local.set $pa0 (i32.add (local.get $a) (i32.mul (local.get $m) (local.get $rs))))
        (local.set $pa1 (i32.add (local.get $pa0) (local.get $rs)))
        (local.set $n (i32.const 0))
        (block $ndone
          (loop $nloop
            (br_if $ndone (i32.ge_u (local.get $n) (local.get $np)))
            (local.set $pb0 (i32.add (local.get $b) (i32.mul (local.get $n) (local.get $rs))))
            (local.set $pb1 (i32.add (local.get $pb0) (local.get $rs)))
            (local.set $pb2 (i32.add (local.get $pb1) (local.get $rs)))
            (local.set $pb3 (i32.add (local.get $pb2) (local.get $rs)))
            (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
            (local.set $c02 (v128.const i32x4 0 0 0 0)) (local.set $c03 (v128.const i32x4 0 0 0 0))
            (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
            (local.set $c12 (v128.const i32x4 0 0 0 0)) (local.set $c13 (v128.const i32x4 0 0 0 0))
            (local.set $k (i32.const 0))
            (block $kdone
              (loop $kloop
                (br_if $kdone (i32.ge_u (local.get $k) (local.get $rs)))
                (local.set $x0 (v128.load (i32.add (local.get $pa0) (local.get $k))))
                (local.set $x1 (v128.load (i32.add (local.get $pa1) (local.get $k))))
                (local.set $w (v128.load (i32.add (local.get $pb0) (local.get $k))))
                (local.set $c00 (i32x4.add (local.get $c00) (i32x4.dot_i16x8_s (local.get $x0) (local.get $w))))
                (local.set $c10 (i32x4.add (local.get $c10) (i32x4.dot_i16x8_s (local.get $x1) (local.get $w))))
                (local.set $w (v128.load (i32.add (local.get $pb1) (local.get $k))))
                (local.set $c01 (i32x4.add (local.get $c01) (i32x4.dot_i16x8_s (local.get $x0) (local.get $w))))
                (local.set $c11 (i32x4.add (local.get $c11) (i32x4.dot_i16x8_s (local.get $x1) (local.get $w))))
                (local.set $w (v128.load (i32.add (local.get $pb2) (local.get $k))))
                (local.set $c02 (i32x4.add (local.get $c02) (i32x4.dot_i16x8_s (local.get $x0) (local.get $w))))
                (local.set $c12 (i32x4.add (local.get $c12) (i32x4.dot_i16x8_s (local.get $x1) (local.get $w))))
                (local.set $w (v128.load (i32.add (local.get $pb3) (local.get $k))))
                (local.set $c03 (i32x4.add (local.get $c03) (i32x4.dot_i16x8_s (local.get $x0) (local.get $w))))
                (local.set $c13 (i32x4.add (local.get $c13) (i32x4.dot_i16x8_s (local.get $x1) (local.get $w))))
                (local.set $k (i32.add (local.get $k) (i32.const 16)))
                (br $kloop)))
            (local.set $po (i32.add (local.get $o) (i32.add (i32.mul (local.get $m) (local.get $ob)) (i32.shl (local.get $n) (i32.const 2)))))
            (i32.store offset=0 (local.get $po) (call $hsum (local.get $c00)))
            (i32.store offset=4 (local.get $po) (call $hsum (local.get $c01)))
            (i32.store offset=8 (local.get $po) (call $hsum (local.get $c02)))
            (i32.store offset=12 (local.get $po) (call $hsum (local.get $c03)))
            (local.set $po (i32.add (local.get $po) (local.get $ob)))
            (i32.store offset=0 (local.get $po) (call $hsum (local.get $c10)))
            (i32.store offset=4 (local.get $po) (call $hsum (local.get $c11)))
            (i32.store offset=8 (local.get $po) (call $hsum (local.get $c12)))
            (i32.store offset=12 (local.get $po) (call $hsum (local.get $c13)))
            (local.set $n (i32.add (local.get $n) (i32.const 4)))
            (br $nloop)))
        (local.set $m (i32.add (local.get $m) (i32.const 2)))
        (br $mloop))))

  ;; s (lanes s0, s1 of v01 and s2, s3 of v23) finished as linearFloat does: the k tail into s0, then the sum.
  (func $finish (param $v01 v128) (param $v23 v128) (param $px i32) (param $pw i32) (param $from i32) (param $to i32) (param $bias f64) (result f64)
    (local $s0 f64)
    (local.set $s0 (f64x2.extract_lane 0 (local.get $v01)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $from) (local.get $to)))
        (local.set $s0 (f64.add (local.get $s0)
          (f64.mul (f64.load (i32.add (local.get $px) (local.get $from))) (f64.load (i32.add (local.get $pw) (local.get $from))))))
        (local.set $from (i32.add (local.get $from) (i32.const 8)))
        (br $tail)))
    (f64.add
      (f64.add
        (f64.add
          (f64.add (local.get $s0) (f64x2.extract_lane 1 (local.get $v01)))
          (f64x2.extract_lane 0 (local.get $v23)))
        (f64x2.extract_lane 1 (local.get $v23)))
      (local.get $bias)))

  (func (export "gemm_f64") (param $x i32) (param $w i32) (param $bias i32) (param $tp i32) (param $np i32) (param $k i32) (param $o i32)
    (local $rs i32) (local $k4 i32) (local $t i32) (local $n i32) (local $kk i32) (local $ob i32)
    (local $px0 i32) (local $px1 i32) (local $pw0 i32) (local $pw1 i32) (local $po i32) (local $b0 f64) (local $b1 f64)
    (local $xa v128) (local $xb v128) (local $xc v128) (local $xd v128) (local $wa v128) (local $wb v128)
    (local $a00 v128) (local $b00 v128) (local $a01 v128) (local $b01 v128)
    (local $a10 v128) (local $b10 v128) (local $a11 v128) (local $b11 v128)
    (local.set $rs (i32.shl (local.get $k) (i32.const 3)))
    (local.set $k4 (i32.shl (i32.and (local.get $k) (i32.const -4)) (i32.const 3)))
    (local.set $ob (i32.shl (local.get $np) (i32.const 3)))
    (local.set $n (i32.const 0))
    (block $ndone
      (loop $nloop
        (br_if $ndone (i32.ge_u (local.get $n) (local.get $np)))
        (local.set $pw0 (i32.add (local.get $w) (i32.mul (local.get $n) (local.get $rs))))
        (local.set $pw1 (i32.add (local.get $pw0) (local.get $rs)))
        (local.set $b0 (f64.load (i32.add (local.get $bias) (i32.shl (local.get $n) (i32.const 3)))))
        (local.set $b1 (f64.load offset=8 (i32.add (local.get $bias) (i32.shl (local.get $n) (i32.const 3)))))
        (local.set $t (i32.const 0))
        (block $tdone
          (loop $tloop
            (br_if $tdone (i32.ge_u (local.get $t) (local.get $tp)))
            (local.set $px0 (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $rs))))
            (local.set $px1 (i32.add (local.get $px0) (local.get $rs)))
            (local.set $a00 (v128.const f64x2 0 0)) (local.set $b00 (v128.const f64x2 0 0))
            (local.set $a01 (v128.const f64x2 0 0)) (local.set $b01 (v128.const f64x2 0 0))
            (local.set $a10 (v128.const f64x2 0 0)) (local.set $b10 (v128.const f64x2 0 0))
            (local.set $a11 (v128.const f64x2 0 0)) (local.set $b11 (v128.const f64x2 0 0))
            (local.set $kk (i32.const 0))
            (block $kdone
              (loop $kloop
                (br_if $kdone (i32.ge_u (local.get $kk) (local.get $k4)))
                (local.set $xa (v128.load (i32.add (local.get $px0) (local.get $kk))))
                (local.set $xb (v128.load offset=16 (i32.add (local.get $px0) (local.get $kk))))
                (local.set $xc (v128.load (i32.add (local.get $px1) (local.get $kk))))
                (local.set $xd (v128.load offset=16 (i32.add (local.get $px1) (local.get $kk))))
                (local.set $wa (v128.load (i32.add (local.get $pw0) (local.get $kk))))
                (local.set $wb (v128.load offset=16 (i32.add (local.get $pw0) (local.get $kk))))
                (local.set $a00 (f64x2.add (local.get $a00) (f64x2.mul (local.get $xa) (local.get $wa))))
                (local.set $b00 (f64x2.add (local.get $b00) (f64x2.mul (local.get $xb) (local.get $wb))))
                (local.set $a10 (f64x2.add (local.get $a10) (f64x2.mul (local.get $xc) (local.get $wa))))
                (local.set $b10 (f64x2.add (local.get $b10) (f64x2.mul (local.get $xd) (local.get $wb))))
                (local.set $wa (v128.load (i32.add (local.get $pw1) (local.get $kk))))
                (local.set $wb (v128.load offset=16 (i32.add (local.get $pw1) (local.get $kk))))
                (local.set $a01 (f64x2.add (local.get $a01) (f64x2.mul (local.get $xa) (local.get $wa))))
                (local.set $b01 (f64x2.add (local.get $b01) (f64x2.mul (local.get $xb) (local.get $wb))))
                (local.set $a11 (f64x2.add (local.get $a11) (f64x2.mul (local.get $xc) (local.get $wa))))
                (local.set $b11 (f64x2.add (local.get $b11) (f64x2.mul (local.get $xd) (local.get $wb))))
                (local.set $kk (i32.add (local.get $kk) (i32.const 32)))
                (br $kloop)))
            (local.set $po (i32.add (local.get $o) (i32.add (i32.mul (local.get $t) (local.get $ob)) (i32.shl (local.get $n) (i32.const 3)))))
            (f64.store offset=0 (local.get $po)
              (call $finish (local.get $a00) (local.get $b00) (local.get $px0) (local.get $pw0) (local.get $k4) (local.get $rs) (local.get $b0)))
            (f64.store offset=8 (local.get $po)
              (call $finish (local.get $a01) (local.get $b01) (local.get $px0) (local.get $pw1) (local.get $k4) (local.get $rs) (local.get $b1)))
            (local.set $po (i32.add (local.get $po) (local.get $ob)))
            (f64.store offset=0 (local.get $po)
              (call $finish (local.get $a10) (local.get $b10) (local.get $px1) (local.get $pw0) (local.get $k4) (local.get $rs) (local.get $b0)))
            (f64.store offset=8 (local.get $po)
              (call $finish (local.get $a11) (local.get $b11) (local.get $px1) (local.get $pw1) (local.get $k4) (local.get $rs) (local.get $b1)))
            (local.set $t (i32.add (local.get $t) (i32.const 2)))
            (br $tloop)))
        (local.set $n (i32.add (local.get $n) (i32.const 2)))
        (br $nloop))))
)
