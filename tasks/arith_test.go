package tasks

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The curriculum corpus: a Mix fraction of worded problems ("What is X plus Y?") with two
// two-digit operands and the target's response format, the rest the source family (one
// operand of a single digit, the target's wording); Mix 0 is the source family alone, and
// no worded prompt is ever a target prompt.
func TestArithPretrainMix(t *testing.T) {
	worded := regexp.MustCompile(`^What is (\d+) (plus|minus) (\d+)\?$`)
	resp := regexp.MustCompile(`^(\d+)([+-])(\d+)=(\d+)\. Answer: (\d+)$`)
	plain, mixed := Arith{Digits: 2}.Pretrain(3, 2000), Arith{Digits: 2, Mix: 0.5}.Pretrain(3, 2000)
	nWorded := 0
	for i, p := range mixed {
		r := resp.FindStringSubmatch(p.Response)
		if r == nil || r[4] != r[5] {
			t.Fatalf("pair %d: response %q", i, p.Response)
		}
		x, _ := strconv.Atoi(r[1])
		y, _ := strconv.Atoi(r[3])
		z, _ := strconv.Atoi(r[4])
		if (r[2] == "+" && x+y != z) || (r[2] == "-" && (x-y != z || z < 0)) {
			t.Fatalf("pair %d: wrong arithmetic %q", i, p.Response)
		}
		if m := worded.FindStringSubmatch(p.Prompt); m != nil {
			nWorded++
			if x < 10 || y < 10 || (m[2] == "plus") != (r[2] == "+") {
				t.Fatalf("worded pair %d: %+v", i, p)
			}
			if _, ok := (Arith{}).Answer(p.Prompt); ok {
				t.Fatalf("worded prompt %q parses as a target prompt", p.Prompt)
			}
			continue
		}
		if x > 9 && y > 9 {
			t.Fatalf("source pair %d has two two-digit operands: %+v", i, p)
		}
		if strings.HasPrefix(p.Prompt, "What") {
			t.Fatalf("pair %d: %q", i, p.Prompt)
		}
	}
	if nWorded < 900 || nWorded > 1100 {
		t.Fatalf("%d of 2000 worded, want about 1000", nWorded)
	}
	for _, p := range plain {
		if worded.MatchString(p.Prompt) {
			t.Fatalf("Mix 0 has a worded pair: %+v", p)
		}
	}
}
