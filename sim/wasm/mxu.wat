;; The simulator's MXU tile on WebAssembly SIMD (sim/wasm-mxu.ts loads it; matmulTile in sim/exec.ts stays the
;; definition and is tested equal). Deliberately a separate module from the reference's (kernels/ref/wasm/gemm.wat),
;; so that the simulator and the oracle it is checked against share no code.
;;   mm_s8 / mm_u8: x [mp][kp] int8 / uint8 scratchpad bytes (kp a multiple of 8, mp of 2, padding zero), w [np][kp]
;;             int16 weight columns (np a multiple of 4), o [mp][np] int32 accumulators: o = (acc ? o : 0) + x . w^T,
;;             i32x4.dot_i16x8_s doing 8 MACs per instruction. Each dot product is exact (|x*w| <= 255*128 and
;;             k <= 1024 keep |sum| < 2^25); the addition to the accumulator wraps to int32 as the hardware's adders do.
(module
  (memory (export "memory") 1)

  (func $hsum (param $v v128) (result i32)
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 1 (local.get $v)))
      (i32.add (i32x4.extract_lane 2 (local.get $v)) (i32x4.extract_lane 3 (local.get $v)))))

  ;; four int32 results at p: stored, or added with int32 wrap-around when acc is 1
  (func $put (param $p i32) (param $acc i32) (param $a i32) (param $b i32) (param $c i32) (param $d i32)
    (if (local.get $acc)
      (then
        (local.set $a (i32.add (local.get $a) (i32.load offset=0 (local.get $p))))
        (local.set $b (i32.add (local.get $b) (i32.load offset=4 (local.get $p))))
        (local.set $c (i32.add (local.get $c) (i32.load offset=8 (local.get $p))))
        (local.set $d (i32.add (local.get $d) (i32.load offset=12 (local.get $p))))))
    (i32.store offset=0 (local.get $p) (local.get $a))
    (i32.store offset=4 (local.get $p) (local.get $b))
    (i32.store offset=8 (local.get $p) (local.get $c))
    (i32.store offset=12 (local.get $p) (local.get $d)))

  ;; mm_s8: the MXU tile straight from scratchpad bytes. x [mp][kp] int8 (signed bytes, kp a multiple of 8, mp of 2,
  ;; padding zero), w [np][kp] int16 (np a multiple of 4), o [mp][np] int32: o = (acc ? o : 0) + x . w^T, adds wrapping
  ;; like the hardware's int32 adders. v128.load8x8_s widens 8 bytes to i16x8 lanes for i32x4.dot_i16x8_s.
  (func (export "mm_s8") (param $x i32) (param $w i32) (param $mp i32) (param $np i32) (param $kp i32) (param $o i32) (param $acc i32)
    (local $ws i32) (local $m i32) (local $n i32) (local $k i32) (local $ob i32)
    (local $px0 i32) (local $px1 i32) (local $pw0 i32) (local $pw1 i32) (local $pw2 i32) (local $pw3 i32) (local $po i32)
    (local $x0 v128) (local $x1 v128) (local $v v128)
    (local $c00 v128) (local $c01 v128) (local $c02 v128) (local $c03 v128)
    (local $c10 v128) (local $c11 v128) (local $c12 v128) (local $c13 v128)
    (local.set $ws (i32.shl (local.get $kp) (i32.const 1)))
    (local.set $ob (i32.shl (local.get $np) (i32.const 2)))
    (local.set $m (i32.const 0))
    (block $mdone
      (loop $mloop
        (br_if $mdone (i32.ge_u (local.get $m) (local.get $mp)))
        (local.set $px0 (i32.add (local.get $x) (i32.mul (local.get $m) (local.get $kp))))
        (local.set $px1 (i32.add (local.get $px0) (local.get $kp)))
        (local.set $n (i32.const 0))
        (block $ndone
          (loop $nloop
            (br_if $ndone (i32.ge_u (local.get $n) (local.get $np)))
            (local.set $pw0 (i32.add (local.get $w) (i32.mul (local.get $n) (local.get $ws))))
            (local.set $pw1 (i32.add (local.get $pw0) (local.get $ws)))
            (local.set $pw2 (i32.add (local.get $pw1) (local.get $ws)))
            (local.set $pw3 (i32.add (local.get $pw2) (local.get $ws)))
            (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
            (local.set $c02 (v128.const i32x4 0 0 0 0)) (local.set $c03 (v128.const i32x4 0 0 0 0))
            (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
            (local.set $c12 (v128.const i32x4 0 0 0 0)) (local.set $c13 (v128.const i32x4 0 0 0 0))
            (local.set $k (i32.const 0))
            (block $kdone
              (loop $kloop
                (br_if $kdone (i32.ge_u (local.get $k) (local.get $kp)))
                (local.set $x0 (v128.load8x8_s (i32.add (local.get $px0) (local.get $k))))
                (local.set $x1 (v128.load8x8_s (i32.add (local.get $px1) (local.get $k))))
                (local.set $v (v128.load (i32.add (local.get $pw0) (i32.shl (local.get $k) (i32.const 1)))))
                (local.set $c00 (i32x4.add (local.get $c00) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
                (local.set $c10 (i32x4.add (local.get $c10) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
                (local.set $v (v128.load (i32.add (local.get $pw1) (i32.shl (local.get $k) (i32.const 1)))))
                (local.set $c01 (i32x4.add (local.get $c01) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
                (local.set $c11 (i32x4.add (local.get $c11) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
                (local.set $v (v128.load (i32.add (local.get $pw2) (i32.shl (local.get $k) (i32.const 1)))))
                (local.set $c02 (i32x4.add (local.get $c02) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
                (local.set $c12 (i32x4.add (local.get $c12) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
                (local.set $v (v128.load (i32.add (local.get $pw3) (i32.shl (local.get $k) (i32.const 1)))))
                (local.set $c03 (i32x4.add (local.get $c03) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
                (local.set $c13 (i32x4.add (local.get $c13) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
                (local.set $k (i32.add (local.get $k) (i32.const 8)))
                (br $kloop)))
            (local.set $po (i32.add (local.get $o) (i32.add (i32.mul (local.get $m) (local.get $ob)) (i32.shl (local.get $n) (i32.const 2)))))
            (call $put (local.get $po) (local.get $acc) (call $hsum (local.get $c00)) (call $hsum (local.get $c01)) (call $hsum (local.get $c02)) (call $hsum (local.get $c03)))
            (local.set $po (i32.add (local.get $po) (local.get $ob)))
            (call $put (local.get $po) (local.get $acc) (call $hsum (local.get $c10)) (call $hsum (local.get $c11)) (call $hsum (local.get $c12)) (call $hsum (local.get $c13)))
            (local.set $n (i32.add (local.get $n) (i32.const 4)))
            (br $nloop)))
        (local.set $m (i32.add (local.get $m) (i32.const 2)))
        (br $mloop))))

  ;; mm_u8: the MXU tile straight from scratchpad bytes. x [mp][kp] int8 (unsigned bytes, kp a multiple of 8, mp of 2,
  ;; padding zero), w [np][kp] int16 (np a multiple of 4), o [mp][np] int32: o = (acc ? o : 0) + x . w^T, adds wrapping
  ;; like the hardware's int32 adders. v128.load8x8_u widens 8 bytes to i16x8 lanes for i32x4.dot_i16x8_s.
  (func (export "mm_u8") (param $x i32) (param $w i32) (param $mp i32) (param $np i32) (param $kp i32) (param $o i32) (param $acc i32)
    (local $ws i32) (local $m i32) (local $n i32) (local $k i32) (local $ob i32)
    (local $px0 i32) (local $px1 i32) (local $pw0 i32) (local $pw1 i32) (local $pw2 i32) (local $pw3 i32) (local $po i32)
    (local $x0 v128) (local $x1 v128) (local $v v128)
    (local $c00 v128) (local $c01 v128) (local $c02 v128) (local $c03 v128)
    (local $c10 v128) (local $c11 v128) (local $c12 v128) (local $c13 v128)
    (local.set $ws (i32.shl (local.get $kp) (i32.const 1)))
    (local.set $ob (i32.shl (local.get $np) (i32.const 2)))
    (local.set $m (i32.const 0))
    (block $mdone
      (loop $mloop
        (br_if $mdone (i32.ge_u (local.get $m) (local.get $mp)))
        (local.set $px0 (i32.add (local.get $x) (i32.mul (local.get $m) (local.get $kp))))
        (local.set $px1 (i32.add (local.get $px0) (local.get $kp)))
        (local.set $n (i32.const 0))
        (block $ndone
          (loop $nloop
            (br_if $ndone (i32.ge_u (local.get $n) (local.get $np)))
            (local.set $pw0 (i32.add (local.get $w) (i32.mul (local.get $n) (local.get $ws))))
            (local.set $pw1 (i32.add (local.get $pw0) (local.get $ws)))
            (local.set $pw2 (i32.add (local.get $pw1) (local.get $ws)))
            (local.set $pw3 (i32.add (local.get $pw2) (local.get $ws)))
            (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
            (local.set $c02 (v128.const i32x4 0 0 0 0)) (local.set $c03 (v128.const i32x4 0 0 0 0))
            (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
            (local.set $c12 (v128.const i32x4 0 0 0 0)) (local.set $c13 (v128.const i32x4 0 0 0 0))
            (local.set $k (i32.const 0))
            (block $kdone
              (loop $kloop
                (br_if $kdone (i32.ge_u (local.get $k) (local.get $kp)))
                (local.set $x0 (v128.load8x8_u (i32.add (local.get $px0) (local.get $k))))
                (local.set $x1 (v128.load8x8_u (i32.add (local.get $px1) (local.get $k))))
                (local.set $v (v128.load (i32.add (local.get $pw0) (i32.shl (local.get $k) (i32.const 1)))))
                (local.set $c00 (i32x4.add (local.get $c00) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
                (local.set $c10 (i32x4.add (local.get $c10) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
                (local.set $v (v128.load (i32.add (local.get $pw1) (i32.shl (local.get $k) (i32.const 1)))))
                (local.set $c01 (i32x4.add (local.get $c01) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
                (local.set $c11 (i32x4.add (local.get $c11) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
                (local.set $v (v128.load (i32.add (local.get $pw2) (i32.shl (local.get $k) (i32.const 1)))))
                (local.set $c02 (i32x4.add (local.get $c02) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
                (local.set $c12 (i32x4.add (local.get $c12) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
                (local.set $v (v128.load (i32.add (local.get $pw3) (i32.shl (local.get $k) (i32.const 1)))))
                (local.set $c03 (i32x4.add (local.get $c03) (i32x4.dot_i16x8_s (local.get $x0) (local.get $v))))
                (local.set $c13 (i32x4.add (local.get $c13) (i32x4.dot_i16x8_s (local.get $x1) (local.get $v))))
                (local.set $k (i32.add (local.get $k) (i32.const 8)))
                (br $kloop)))
            (local.set $po (i32.add (local.get $o) (i32.add (i32.mul (local.get $m) (local.get $ob)) (i32.shl (local.get $n) (i32.const 2)))))
            (call $put (local.get $po) (local.get $acc) (call $hsum (local.get $c00)) (call $hsum (local.get $c01)) (call $hsum (local.get $c02)) (call $hsum (local.get $c03)))
            (local.set $po (i32.add (local.get $po) (local.get $ob)))
            (call $put (local.get $po) (local.get $acc) (call $hsum (local.get $c10)) (call $hsum (local.get $c11)) (call $hsum (local.get $c12)) (call $hsum (local.get $c13)))
            (local.set $n (i32.add (local.get $n) (i32.const 4)))
            (br $nloop)))
        (local.set $m (i32.add (local.get $m) (i32.const 2)))
        (br $mloop))))
)
