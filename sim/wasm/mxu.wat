;; The simulator's MXU tile on WebAssembly SIMD (sim/wasm-mxu.ts loads it; matmulTile in sim/exec.ts stays the
;; definition and is tested equal). Deliberately a separate module from the reference's (kernels/ref/wasm/gemm.wat),
;; so that the simulator and the oracle it is checked against share no code.
;;   gemm_i16: A [mp][kp] (input rows) and B [np][kp] (weight columns) int16 (kp a multiple of 8, mp of 2, np of 4,
;;             padding zero), out [mp][np] int32 = A . B^T with i32x4.dot_i16x8_s (8 MACs per instruction). Each dot
;;             product is exact (|x*w| <= 255*128, k <= 1024 keeps |sum| < 2^25); the caller adds it to the
;;             accumulator with int32 wrap-around as the hardware's adders do.
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

)
