//go:build amd64 && !purego

#include "textflag.h"

// AVX2 kernels of the optimizer update for float32 weights and float32 moments
// (model/optim.go, updateTensor): 4 elements at a time, widened to float64, exactly the
// operations of the Go loop in the same order (each multiply, add, divide and square root
// rounded on its own, no FMA; float64 -> float32 rounded to nearest even as Go's conversion),
// so both paths give the same bits. Plan 9 operand order: VOP src2, src1, dst computes
// dst = src1 OP src2.

// func RMSPropF32AVX2(p, v, grad *float32, n int, a, c, lr, bc2, eps float64)
//	v = float32(a*v + (c*g)*g)
//	p = float32(p - (lr*g) / (sqrt(float64(v)/bc2) + eps))
// n must be a multiple of 4.
TEXT ·RMSPropF32AVX2(SB), NOSPLIT, $0-72
	MOVQ p+0(FP), DI
	MOVQ v+8(FP), SI
	MOVQ grad+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSD a+32(FP), Y10
	VBROADCASTSD c+40(FP), Y11
	VBROADCASTSD lr+48(FP), Y12
	VBROADCASTSD bc2+56(FP), Y13
	VBROADCASTSD eps+64(FP), Y14
	XORQ AX, AX
rloop:
	CMPQ AX, CX
	JGE  rdone
	VCVTPS2PD (DX)(AX*4), Y0    // g
	VCVTPS2PD (SI)(AX*4), Y1    // v
	VMULPD    Y1, Y10, Y1       // a*v
	VMULPD    Y0, Y11, Y2       // c*g
	VMULPD    Y0, Y2, Y2        // (c*g)*g
	VADDPD    Y2, Y1, Y1        // a*v + c*g*g
	VCVTPD2PSY Y1, X1           // float32
	VMOVUPS   X1, (SI)(AX*4)
	VCVTPS2PD X1, Y1            // float64(v)
	VDIVPD    Y13, Y1, Y1       // v/bc2
	VSQRTPD   Y1, Y1
	VADDPD    Y14, Y1, Y1       // + eps
	VMULPD    Y0, Y12, Y2       // lr*g
	VDIVPD    Y1, Y2, Y2        // delta
	VCVTPS2PD (DI)(AX*4), Y3    // p
	VSUBPD    Y2, Y3, Y3
	VCVTPD2PSY Y3, X3
	VMOVUPS   X3, (DI)(AX*4)
	ADDQ $4, AX
	JMP  rloop
rdone:
	VZEROUPPER
	RET

// func AdamF32AVX2(p, m, v, grad *float32, n int, b1, c1, b2, c2, lr, bc1, bc2, eps float64)
//	m = float32(b1*m + c1*g)
//	v = float32(b2*v + (c2*g)*g)
//	p = float32(p - (lr*(float64(m)/bc1)) / (sqrt(float64(v)/bc2) + eps))
// n must be a multiple of 4.
TEXT ·AdamF32AVX2(SB), NOSPLIT, $0-104
	MOVQ p+0(FP), DI
	MOVQ m+8(FP), R8
	MOVQ v+16(FP), SI
	MOVQ grad+24(FP), DX
	MOVQ n+32(FP), CX
	VBROADCASTSD b1+40(FP), Y7
	VBROADCASTSD c1+48(FP), Y8
	VBROADCASTSD b2+56(FP), Y9
	VBROADCASTSD c2+64(FP), Y10
	VBROADCASTSD lr+72(FP), Y11
	VBROADCASTSD bc1+80(FP), Y12
	VBROADCASTSD bc2+88(FP), Y13
	VBROADCASTSD eps+96(FP), Y14
	XORQ AX, AX
aloop:
	CMPQ AX, CX
	JGE  adone
	VCVTPS2PD (DX)(AX*4), Y0    // g
	VCVTPS2PD (R8)(AX*4), Y4    // m
	VMULPD    Y4, Y7, Y4        // b1*m
	VMULPD    Y0, Y8, Y5        // c1*g
	VADDPD    Y5, Y4, Y4
	VCVTPD2PSY Y4, X4
	VMOVUPS   X4, (R8)(AX*4)
	VCVTPS2PD (SI)(AX*4), Y1    // v
	VMULPD    Y1, Y9, Y1        // b2*v
	VMULPD    Y0, Y10, Y2       // c2*g
	VMULPD    Y0, Y2, Y2        // (c2*g)*g
	VADDPD    Y2, Y1, Y1
	VCVTPD2PSY Y1, X1
	VMOVUPS   X1, (SI)(AX*4)
	VCVTPS2PD X1, Y1            // float64(v)
	VDIVPD    Y13, Y1, Y1       // v/bc2
	VSQRTPD   Y1, Y1
	VADDPD    Y14, Y1, Y1       // + eps
	VCVTPS2PD X4, Y4            // float64(m)
	VDIVPD    Y12, Y4, Y4       // m/bc1
	VMULPD    Y4, Y11, Y4       // lr*(m/bc1)
	VDIVPD    Y1, Y4, Y4        // delta
	VCVTPS2PD (DI)(AX*4), Y3    // p
	VSUBPD    Y4, Y3, Y3
	VCVTPD2PSY Y3, X3
	VMOVUPS   X3, (DI)(AX*4)
	ADDQ $4, AX
	JMP  aloop
adone:
	VZEROUPPER
	RET
