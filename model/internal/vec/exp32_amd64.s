//go:build amd64 && !purego

#include "textflag.h"

// AVX2 kernel of exp for float32 log-softmax (model/exp32.go): y = c * exp(max(x - s, lo)) for x - s <= 0,
// 8 lanes at a time, exactly the operations of model.exp32 in the same order (multiplies and
// adds rounded one by one, no FMA), so both paths give the same bits. Plan 9 operand order:
// VOP src2, src1, dst computes dst = src1 OP src2.

// Constants, each broadcast to 8 lanes (32 bytes), from the float32 values of model/exp32.go.
// 0: lo
DATA expK<>+0(SB)/4, $0xc2aeac4f
DATA expK<>+4(SB)/4, $0xc2aeac4f
DATA expK<>+8(SB)/4, $0xc2aeac4f
DATA expK<>+12(SB)/4, $0xc2aeac4f
DATA expK<>+16(SB)/4, $0xc2aeac4f
DATA expK<>+20(SB)/4, $0xc2aeac4f
DATA expK<>+24(SB)/4, $0xc2aeac4f
DATA expK<>+28(SB)/4, $0xc2aeac4f
// 32: hi
DATA expK<>+32(SB)/4, $0x00000000
DATA expK<>+36(SB)/4, $0x00000000
DATA expK<>+40(SB)/4, $0x00000000
DATA expK<>+44(SB)/4, $0x00000000
DATA expK<>+48(SB)/4, $0x00000000
DATA expK<>+52(SB)/4, $0x00000000
DATA expK<>+56(SB)/4, $0x00000000
DATA expK<>+60(SB)/4, $0x00000000
// 64: log2e
DATA expK<>+64(SB)/4, $0x3fb8aa3b
DATA expK<>+68(SB)/4, $0x3fb8aa3b
DATA expK<>+72(SB)/4, $0x3fb8aa3b
DATA expK<>+76(SB)/4, $0x3fb8aa3b
DATA expK<>+80(SB)/4, $0x3fb8aa3b
DATA expK<>+84(SB)/4, $0x3fb8aa3b
DATA expK<>+88(SB)/4, $0x3fb8aa3b
DATA expK<>+92(SB)/4, $0x3fb8aa3b
// 96: half
DATA expK<>+96(SB)/4, $0x3f000000
DATA expK<>+100(SB)/4, $0x3f000000
DATA expK<>+104(SB)/4, $0x3f000000
DATA expK<>+108(SB)/4, $0x3f000000
DATA expK<>+112(SB)/4, $0x3f000000
DATA expK<>+116(SB)/4, $0x3f000000
DATA expK<>+120(SB)/4, $0x3f000000
DATA expK<>+124(SB)/4, $0x3f000000
// 128: c1
DATA expK<>+128(SB)/4, $0x3f318000
DATA expK<>+132(SB)/4, $0x3f318000
DATA expK<>+136(SB)/4, $0x3f318000
DATA expK<>+140(SB)/4, $0x3f318000
DATA expK<>+144(SB)/4, $0x3f318000
DATA expK<>+148(SB)/4, $0x3f318000
DATA expK<>+152(SB)/4, $0x3f318000
DATA expK<>+156(SB)/4, $0x3f318000
// 160: c2
DATA expK<>+160(SB)/4, $0xb95e8083
DATA expK<>+164(SB)/4, $0xb95e8083
DATA expK<>+168(SB)/4, $0xb95e8083
DATA expK<>+172(SB)/4, $0xb95e8083
DATA expK<>+176(SB)/4, $0xb95e8083
DATA expK<>+180(SB)/4, $0xb95e8083
DATA expK<>+184(SB)/4, $0xb95e8083
DATA expK<>+188(SB)/4, $0xb95e8083
// 192: p0
DATA expK<>+192(SB)/4, $0x39506967
DATA expK<>+196(SB)/4, $0x39506967
DATA expK<>+200(SB)/4, $0x39506967
DATA expK<>+204(SB)/4, $0x39506967
DATA expK<>+208(SB)/4, $0x39506967
DATA expK<>+212(SB)/4, $0x39506967
DATA expK<>+216(SB)/4, $0x39506967
DATA expK<>+220(SB)/4, $0x39506967
// 224: p1
DATA expK<>+224(SB)/4, $0x3ab743ce
DATA expK<>+228(SB)/4, $0x3ab743ce
DATA expK<>+232(SB)/4, $0x3ab743ce
DATA expK<>+236(SB)/4, $0x3ab743ce
DATA expK<>+240(SB)/4, $0x3ab743ce
DATA expK<>+244(SB)/4, $0x3ab743ce
DATA expK<>+248(SB)/4, $0x3ab743ce
DATA expK<>+252(SB)/4, $0x3ab743ce
// 256: p2
DATA expK<>+256(SB)/4, $0x3c088908
DATA expK<>+260(SB)/4, $0x3c088908
DATA expK<>+264(SB)/4, $0x3c088908
DATA expK<>+268(SB)/4, $0x3c088908
DATA expK<>+272(SB)/4, $0x3c088908
DATA expK<>+276(SB)/4, $0x3c088908
DATA expK<>+280(SB)/4, $0x3c088908
DATA expK<>+284(SB)/4, $0x3c088908
// 288: p3
DATA expK<>+288(SB)/4, $0x3d2aa9c1
DATA expK<>+292(SB)/4, $0x3d2aa9c1
DATA expK<>+296(SB)/4, $0x3d2aa9c1
DATA expK<>+300(SB)/4, $0x3d2aa9c1
DATA expK<>+304(SB)/4, $0x3d2aa9c1
DATA expK<>+308(SB)/4, $0x3d2aa9c1
DATA expK<>+312(SB)/4, $0x3d2aa9c1
DATA expK<>+316(SB)/4, $0x3d2aa9c1
// 320: p4
DATA expK<>+320(SB)/4, $0x3e2aaaaa
DATA expK<>+324(SB)/4, $0x3e2aaaaa
DATA expK<>+328(SB)/4, $0x3e2aaaaa
DATA expK<>+332(SB)/4, $0x3e2aaaaa
DATA expK<>+336(SB)/4, $0x3e2aaaaa
DATA expK<>+340(SB)/4, $0x3e2aaaaa
DATA expK<>+344(SB)/4, $0x3e2aaaaa
DATA expK<>+348(SB)/4, $0x3e2aaaaa
// 352: p5
DATA expK<>+352(SB)/4, $0x3f000000
DATA expK<>+356(SB)/4, $0x3f000000
DATA expK<>+360(SB)/4, $0x3f000000
DATA expK<>+364(SB)/4, $0x3f000000
DATA expK<>+368(SB)/4, $0x3f000000
DATA expK<>+372(SB)/4, $0x3f000000
DATA expK<>+376(SB)/4, $0x3f000000
DATA expK<>+380(SB)/4, $0x3f000000
// 384: one
DATA expK<>+384(SB)/4, $0x3f800000
DATA expK<>+388(SB)/4, $0x3f800000
DATA expK<>+392(SB)/4, $0x3f800000
DATA expK<>+396(SB)/4, $0x3f800000
DATA expK<>+400(SB)/4, $0x3f800000
DATA expK<>+404(SB)/4, $0x3f800000
DATA expK<>+408(SB)/4, $0x3f800000
DATA expK<>+412(SB)/4, $0x3f800000
// 416: int32 127 (the exponent bias)
DATA expK<>+416(SB)/4, $0x0000007f
DATA expK<>+420(SB)/4, $0x0000007f
DATA expK<>+424(SB)/4, $0x0000007f
DATA expK<>+428(SB)/4, $0x0000007f
DATA expK<>+432(SB)/4, $0x0000007f
DATA expK<>+436(SB)/4, $0x0000007f
DATA expK<>+440(SB)/4, $0x0000007f
DATA expK<>+444(SB)/4, $0x0000007f
GLOBL expK<>(SB), RODATA|NOPTR, $448

// func ExpScaleAVX2(x, y *float32, n int, s, c float32)
// n is a multiple of 8; y may be x.
TEXT ·ExpScaleAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	VBROADCASTSS s+24(FP), Y14
	VBROADCASTSS c+28(FP), Y15
	VMOVUPS expK<>+0(SB), Y12 // lo
	VMOVUPS expK<>+32(SB), Y13 // 0
loop:
	CMPQ CX, $8
	JLT done
	VMOVUPS (SI), Y0
	VSUBPS Y14, Y0, Y0 // t = x - s
	VMAXPS Y0, Y12, Y0 // t < lo: lo (NaN stays NaN: the second source is returned)
	VMINPS Y0, Y13, Y0 // t > 0: 0
	VMULPS expK<>+64(SB), Y0, Y1
	VADDPS expK<>+96(SB), Y1, Y1
	VROUNDPS $1, Y1, Y1 // n = floor(t log2e + 0.5)
	VMULPS expK<>+128(SB), Y1, Y2
	VSUBPS Y2, Y0, Y3 // r = t - n c1
	VMULPS expK<>+160(SB), Y1, Y2
	VSUBPS Y2, Y3, Y3 // r -= n c2
	VMULPS Y3, Y3, Y4 // z = r r
	VMULPS expK<>+192(SB), Y3, Y5
	VADDPS expK<>+224(SB), Y5, Y5
	VMULPS Y3, Y5, Y5
	VADDPS expK<>+256(SB), Y5, Y5
	VMULPS Y3, Y5, Y5
	VADDPS expK<>+288(SB), Y5, Y5
	VMULPS Y3, Y5, Y5
	VADDPS expK<>+320(SB), Y5, Y5
	VMULPS Y3, Y5, Y5
	VADDPS expK<>+352(SB), Y5, Y5
	VMULPS Y4, Y5, Y5
	VADDPS Y3, Y5, Y5
	VADDPS expK<>+384(SB), Y5, Y5 // p = poly(r) z + r + 1
	VCVTTPS2DQ Y1, Y6
	VPADDD expK<>+416(SB), Y6, Y6
	VPSLLD $23, Y6, Y6 // 2^n
	VMULPS Y6, Y5, Y5
	VMULPS Y15, Y5, Y5 // c * p 2^n
	VMOVUPS Y5, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP loop
done:
	VZEROUPPER
	RET
