//go:build amd64 && !purego

#include "textflag.h"

// AVX2 kernels for GELU in float32 (model/gelu32.go). Each does, 8 lanes at a time, exactly the
// operations of model.geluFwd32Go / model.geluBwd32Go in the same order: multiplies and adds rounded one
// by one (no FMA), so both paths give the same bits. Plan 9 operand order: VOP src2, src1, dst
// computes dst = src1 OP src2.

// Constants, each broadcast to 8 lanes (32 bytes): generated from the float32 values of
// the Go constants (math.Float32bits).
// 0: sqrt(2/pi)
DATA geluK<>+0(SB)/4, $0x3f4c422a
DATA geluK<>+4(SB)/4, $0x3f4c422a
DATA geluK<>+8(SB)/4, $0x3f4c422a
DATA geluK<>+12(SB)/4, $0x3f4c422a
DATA geluK<>+16(SB)/4, $0x3f4c422a
DATA geluK<>+20(SB)/4, $0x3f4c422a
DATA geluK<>+24(SB)/4, $0x3f4c422a
DATA geluK<>+28(SB)/4, $0x3f4c422a
// 32: 0.044715
DATA geluK<>+32(SB)/4, $0x3d372713
DATA geluK<>+36(SB)/4, $0x3d372713
DATA geluK<>+40(SB)/4, $0x3d372713
DATA geluK<>+44(SB)/4, $0x3d372713
DATA geluK<>+48(SB)/4, $0x3d372713
DATA geluK<>+52(SB)/4, $0x3d372713
DATA geluK<>+56(SB)/4, $0x3d372713
DATA geluK<>+60(SB)/4, $0x3d372713
// 64: clamp
DATA geluK<>+64(SB)/4, $0x40fcf84f
DATA geluK<>+68(SB)/4, $0x40fcf84f
DATA geluK<>+72(SB)/4, $0x40fcf84f
DATA geluK<>+76(SB)/4, $0x40fcf84f
DATA geluK<>+80(SB)/4, $0x40fcf84f
DATA geluK<>+84(SB)/4, $0x40fcf84f
DATA geluK<>+88(SB)/4, $0x40fcf84f
DATA geluK<>+92(SB)/4, $0x40fcf84f
// 96: -clamp
DATA geluK<>+96(SB)/4, $0xc0fcf84f
DATA geluK<>+100(SB)/4, $0xc0fcf84f
DATA geluK<>+104(SB)/4, $0xc0fcf84f
DATA geluK<>+108(SB)/4, $0xc0fcf84f
DATA geluK<>+112(SB)/4, $0xc0fcf84f
DATA geluK<>+116(SB)/4, $0xc0fcf84f
DATA geluK<>+120(SB)/4, $0xc0fcf84f
DATA geluK<>+124(SB)/4, $0xc0fcf84f
// 128: a0
DATA geluK<>+128(SB)/4, $0x3ba059dc
DATA geluK<>+132(SB)/4, $0x3ba059dc
DATA geluK<>+136(SB)/4, $0x3ba059dc
DATA geluK<>+140(SB)/4, $0x3ba059dc
DATA geluK<>+144(SB)/4, $0x3ba059dc
DATA geluK<>+148(SB)/4, $0x3ba059dc
DATA geluK<>+152(SB)/4, $0x3ba059dc
DATA geluK<>+156(SB)/4, $0x3ba059dc
// 160: a1
DATA geluK<>+160(SB)/4, $0x3a270ded
DATA geluK<>+164(SB)/4, $0x3a270ded
DATA geluK<>+168(SB)/4, $0x3a270ded
DATA geluK<>+172(SB)/4, $0x3a270ded
DATA geluK<>+176(SB)/4, $0x3a270ded
DATA geluK<>+180(SB)/4, $0x3a270ded
DATA geluK<>+184(SB)/4, $0x3a270ded
DATA geluK<>+188(SB)/4, $0x3a270ded
// 192: a2
DATA geluK<>+192(SB)/4, $0x3779434a
DATA geluK<>+196(SB)/4, $0x3779434a
DATA geluK<>+200(SB)/4, $0x3779434a
DATA geluK<>+204(SB)/4, $0x3779434a
DATA geluK<>+208(SB)/4, $0x3779434a
DATA geluK<>+212(SB)/4, $0x3779434a
DATA geluK<>+216(SB)/4, $0x3779434a
DATA geluK<>+220(SB)/4, $0x3779434a
// 224: a3
DATA geluK<>+224(SB)/4, $0x335c0041
DATA geluK<>+228(SB)/4, $0x335c0041
DATA geluK<>+232(SB)/4, $0x335c0041
DATA geluK<>+236(SB)/4, $0x335c0041
DATA geluK<>+240(SB)/4, $0x335c0041
DATA geluK<>+244(SB)/4, $0x335c0041
DATA geluK<>+248(SB)/4, $0x335c0041
DATA geluK<>+252(SB)/4, $0x335c0041
// 256: a4
DATA geluK<>+256(SB)/4, $0xaebd37ff
DATA geluK<>+260(SB)/4, $0xaebd37ff
DATA geluK<>+264(SB)/4, $0xaebd37ff
DATA geluK<>+268(SB)/4, $0xaebd37ff
DATA geluK<>+272(SB)/4, $0xaebd37ff
DATA geluK<>+276(SB)/4, $0xaebd37ff
DATA geluK<>+280(SB)/4, $0xaebd37ff
DATA geluK<>+284(SB)/4, $0xaebd37ff
// 288: a5
DATA geluK<>+288(SB)/4, $0x2a61337e
DATA geluK<>+292(SB)/4, $0x2a61337e
DATA geluK<>+296(SB)/4, $0x2a61337e
DATA geluK<>+300(SB)/4, $0x2a61337e
DATA geluK<>+304(SB)/4, $0x2a61337e
DATA geluK<>+308(SB)/4, $0x2a61337e
DATA geluK<>+312(SB)/4, $0x2a61337e
DATA geluK<>+316(SB)/4, $0x2a61337e
// 320: a6
DATA geluK<>+320(SB)/4, $0xa59f25c0
DATA geluK<>+324(SB)/4, $0xa59f25c0
DATA geluK<>+328(SB)/4, $0xa59f25c0
DATA geluK<>+332(SB)/4, $0xa59f25c0
DATA geluK<>+336(SB)/4, $0xa59f25c0
DATA geluK<>+340(SB)/4, $0xa59f25c0
DATA geluK<>+344(SB)/4, $0xa59f25c0
DATA geluK<>+348(SB)/4, $0xa59f25c0
// 352: b0
DATA geluK<>+352(SB)/4, $0x3ba059dd
DATA geluK<>+356(SB)/4, $0x3ba059dd
DATA geluK<>+360(SB)/4, $0x3ba059dd
DATA geluK<>+364(SB)/4, $0x3ba059dd
DATA geluK<>+368(SB)/4, $0x3ba059dd
DATA geluK<>+372(SB)/4, $0x3ba059dd
DATA geluK<>+376(SB)/4, $0x3ba059dd
DATA geluK<>+380(SB)/4, $0x3ba059dd
// 384: b1
DATA geluK<>+384(SB)/4, $0x3b14aa05
DATA geluK<>+388(SB)/4, $0x3b14aa05
DATA geluK<>+392(SB)/4, $0x3b14aa05
DATA geluK<>+396(SB)/4, $0x3b14aa05
DATA geluK<>+400(SB)/4, $0x3b14aa05
DATA geluK<>+404(SB)/4, $0x3b14aa05
DATA geluK<>+408(SB)/4, $0x3b14aa05
DATA geluK<>+412(SB)/4, $0x3b14aa05
// 416: b2
DATA geluK<>+416(SB)/4, $0x38f895d6
DATA geluK<>+420(SB)/4, $0x38f895d6
DATA geluK<>+424(SB)/4, $0x38f895d6
DATA geluK<>+428(SB)/4, $0x38f895d6
DATA geluK<>+432(SB)/4, $0x38f895d6
DATA geluK<>+436(SB)/4, $0x38f895d6
DATA geluK<>+440(SB)/4, $0x38f895d6
DATA geluK<>+444(SB)/4, $0x38f895d6
// 448: b3
DATA geluK<>+448(SB)/4, $0x35a0d3d8
DATA geluK<>+452(SB)/4, $0x35a0d3d8
DATA geluK<>+456(SB)/4, $0x35a0d3d8
DATA geluK<>+460(SB)/4, $0x35a0d3d8
DATA geluK<>+464(SB)/4, $0x35a0d3d8
DATA geluK<>+468(SB)/4, $0x35a0d3d8
DATA geluK<>+472(SB)/4, $0x35a0d3d8
DATA geluK<>+476(SB)/4, $0x35a0d3d8
// 480: 1
DATA geluK<>+480(SB)/4, $0x3f800000
DATA geluK<>+484(SB)/4, $0x3f800000
DATA geluK<>+488(SB)/4, $0x3f800000
DATA geluK<>+492(SB)/4, $0x3f800000
DATA geluK<>+496(SB)/4, $0x3f800000
DATA geluK<>+500(SB)/4, $0x3f800000
DATA geluK<>+504(SB)/4, $0x3f800000
DATA geluK<>+508(SB)/4, $0x3f800000
// 512: 0.5
DATA geluK<>+512(SB)/4, $0x3f000000
DATA geluK<>+516(SB)/4, $0x3f000000
DATA geluK<>+520(SB)/4, $0x3f000000
DATA geluK<>+524(SB)/4, $0x3f000000
DATA geluK<>+528(SB)/4, $0x3f000000
DATA geluK<>+532(SB)/4, $0x3f000000
DATA geluK<>+536(SB)/4, $0x3f000000
DATA geluK<>+540(SB)/4, $0x3f000000
// 544: 3*0.044715
DATA geluK<>+544(SB)/4, $0x3e095d4f
DATA geluK<>+548(SB)/4, $0x3e095d4f
DATA geluK<>+552(SB)/4, $0x3e095d4f
DATA geluK<>+556(SB)/4, $0x3e095d4f
DATA geluK<>+560(SB)/4, $0x3e095d4f
DATA geluK<>+564(SB)/4, $0x3e095d4f
DATA geluK<>+568(SB)/4, $0x3e095d4f
DATA geluK<>+572(SB)/4, $0x3e095d4f
// 576: -1
DATA geluK<>+576(SB)/4, $0xbf800000
DATA geluK<>+580(SB)/4, $0xbf800000
DATA geluK<>+584(SB)/4, $0xbf800000
DATA geluK<>+588(SB)/4, $0xbf800000
DATA geluK<>+592(SB)/4, $0xbf800000
DATA geluK<>+596(SB)/4, $0xbf800000
DATA geluK<>+600(SB)/4, $0xbf800000
DATA geluK<>+604(SB)/4, $0xbf800000
GLOBL geluK<>(SB), RODATA|NOPTR, $608

// func GeluFwdAVX2(x, y, th *float32, n int)
// n is a multiple of 8. y may alias x.
TEXT ·GeluFwdAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ th+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JZ   fwddone
	VMOVUPS geluK<>+64(SB), Y14 // clamp
	VMOVUPS geluK<>+96(SB), Y13 // -clamp
	VMOVUPS geluK<>+480(SB), Y12 // 1
	VMOVUPS geluK<>+512(SB), Y11 // 0.5
	VMOVUPS geluK<>+576(SB), Y10 // -1

fwdloop:
	VMOVUPS (SI), Y0                 // x
	VMULPS  Y0, Y0, Y1               // x*x
	VMULPS  Y0, Y1, Y1               // x^3
	VMULPS  geluK<>+32(SB), Y1, Y1   // 0.044715 x^3
	VADDPS  Y1, Y0, Y1               // x + 0.044715 x^3
	VMULPS  geluK<>+0(SB), Y1, Y1    // u
	VMINPS  Y1, Y14, Y1              // min(clamp, u), NaN stays
	VMAXPS  Y1, Y13, Y1              // max(-clamp, u)
	VCMPPS  $0, Y14, Y1, Y8          // u == clamp: tanh is 1
	VCMPPS  $0, Y13, Y1, Y9          // u == -clamp: tanh is -1
	VMULPS  Y1, Y1, Y2               // v = u^2
	VMULPS  Y2, Y2, Y3               // v2
	VMULPS  Y3, Y3, Y4               // v4

	// p = (a0 + a1 v) + v2 (a2 + a3 v) + v4 ((a4 + a5 v) + v2 a6)
	VMULPS  geluK<>+160(SB), Y2, Y5
	VADDPS  geluK<>+128(SB), Y5, Y5  // a0 + a1 v
	VMULPS  geluK<>+224(SB), Y2, Y6
	VADDPS  geluK<>+192(SB), Y6, Y6  // a2 + a3 v
	VMULPS  Y6, Y3, Y6               // v2 (a2 + a3 v)
	VADDPS  Y6, Y5, Y5
	VMULPS  geluK<>+288(SB), Y2, Y6
	VADDPS  geluK<>+256(SB), Y6, Y6  // a4 + a5 v
	VMULPS  geluK<>+320(SB), Y3, Y7  // v2 a6
	VADDPS  Y7, Y6, Y6
	VMULPS  Y6, Y4, Y6               // v4 (...)
	VADDPS  Y6, Y5, Y5               // p

	// q = (b0 + b1 v) + v2 (b2 + b3 v)
	VMULPS  geluK<>+384(SB), Y2, Y6
	VADDPS  geluK<>+352(SB), Y6, Y6  // b0 + b1 v
	VMULPS  geluK<>+448(SB), Y2, Y7
	VADDPS  geluK<>+416(SB), Y7, Y7  // b2 + b3 v
	VMULPS  Y7, Y3, Y7
	VADDPS  Y7, Y6, Y6               // q

	VMULPS  Y5, Y1, Y5               // u p
	VDIVPS  Y6, Y5, Y5               // t = u p / q
	VBLENDVPS Y8, Y12, Y5, Y5        // 1 where u was clamped above
	VBLENDVPS Y9, Y10, Y5, Y5        // -1 where clamped below
	VMOVUPS Y5, (DX)
	VADDPS  Y12, Y5, Y6              // 1 + t
	VMULPS  Y11, Y0, Y7              // 0.5 x
	VMULPS  Y6, Y7, Y7               // 0.5 x (1 + t)
	VMOVUPS Y7, (DI)

	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JNZ  fwdloop
	VZEROUPPER

fwddone:
	RET

// func GeluBwdAVX2(x, gr, d, th *float32, n int)
// d = g (0.5 (1 + t) + ((0.5 x) (1 - t^2)) sqrt(2/pi) (1 + 3*0.044715 x^2)). n is a multiple of 8.
TEXT ·GeluBwdAVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ gr+8(FP), BX
	MOVQ d+16(FP), DI
	MOVQ th+24(FP), DX
	MOVQ n+32(FP), CX
	SHRQ $3, CX
	JZ   bwddone
	VMOVUPS geluK<>+480(SB), Y12 // 1
	VMOVUPS geluK<>+512(SB), Y11 // 0.5

bwdloop:
	VMOVUPS (SI), Y0                 // x
	VMOVUPS (DX), Y1                 // t
	VMULPS  Y1, Y1, Y2               // t^2
	VSUBPS  Y2, Y12, Y2              // 1 - t^2
	VMULPS  Y11, Y0, Y3              // 0.5 x
	VMULPS  Y2, Y3, Y3               // 0.5 x (1 - t^2)
	VMULPS  geluK<>+0(SB), Y3, Y3    // * sqrt(2/pi)
	VMULPS  Y0, Y0, Y4               // x^2
	VMULPS  geluK<>+544(SB), Y4, Y4  // 3*0.044715 x^2
	VADDPS  Y12, Y4, Y4              // 1 + ...
	VMULPS  Y4, Y3, Y3
	VADDPS  Y12, Y1, Y5              // 1 + t
	VMULPS  Y11, Y5, Y5              // 0.5 (1 + t)
	VADDPS  Y3, Y5, Y5
	VMULPS  (BX), Y5, Y5             // g * (...)
	VMOVUPS Y5, (DI)

	ADDQ $32, SI
	ADDQ $32, BX
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JNZ  bwdloop
	VZEROUPPER

bwddone:
	RET
