package tasks

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/space-sft/space/dataset"
)

// The curriculum corpus: a Mix fraction of carry-free problems (target wording, two
// two-digit operands, no carry or borrow), the rest the source family (one operand of a
// single digit); Mix 0 is the source family alone. About 40% of the target needs a carry
// or a borrow.
func TestArithPretrainMix(t *testing.T) {
	prompt := regexp.MustCompile(`^[A-Z][a-z]+ has (\d+) [a-z]+, (gets|loses) (\d+)\. How many\?$`)
	plain, mixed := Arith{Digits: 2}.Pretrain(3, 2000), Arith{Digits: 2, Mix: 0.5}.Pretrain(3, 2000)
	twoDigit := func(pairs []dataset.Pair, what string) int {
		n := 0
		for i, p := range pairs {
			a := Arith{}
			if a.Score(p.Prompt, p.Response) != 1 {
				t.Fatalf("%s pair %d: reference scores 0: %+v", what, i, p)
			}
			m := prompt.FindStringSubmatch(p.Prompt)
			x, _ := strconv.Atoi(m[1])
			y, _ := strconv.Atoi(m[3])
			if x > 9 && y > 9 {
				n++
				if ArithCarries(x, y, m[2] == "gets") {
					t.Fatalf("%s pair %d needs a carry or borrow: %+v", what, i, p)
				}
			}
		}
		return n
	}
	if n := twoDigit(plain, "mix 0"); n != 0 {
		t.Fatalf("mix 0 has %d problems with two two-digit operands", n)
	}
	if n := twoDigit(mixed, "mix 0.5"); n < 900 || n > 1100 {
		t.Fatalf("%d of 2000 carry-free, want about 1000", n)
	}
	carry := 0
	target := Arith{Digits: 2}.Generate(5, 2000)
	for _, p := range target {
		m := prompt.FindStringSubmatch(p.Prompt)
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[3])
		if ArithCarries(x, y, m[2] == "gets") {
			carry++
		}
	}
	if carry < 700 || carry > 900 || !strings.Contains(target[0].Response, "Answer") {
		t.Fatalf("%d of 2000 target problems carry or borrow, want about 40%%", carry)
	}
	if !ArithCarries(37, 45, true) || ArithCarries(32, 45, true) || !ArithCarries(42, 37, false) || ArithCarries(47, 32, false) || !ArithCarries(37, 42, false) {
		t.Fatal("ArithCarries")
	}
}
