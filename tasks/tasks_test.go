package tasks

import (
	"strings"
	"testing"
)

func TestArith(t *testing.T) {
	task, err := Get("arith")
	if err != nil {
		t.Fatal(err)
	}
	a := task.Generate(1, 200)
	b := task.Generate(1, 200)
	c := task.Generate(2, 200)
	diff := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("not deterministic")
		}
		if a[i] != c[i] {
			diff++
		}
		if got := task.Score(a[i].Prompt, a[i].Response); got != 1 {
			t.Fatalf("reference response scored %v: %+v", got, a[i])
		}
		if n := len(a[i].Prompt) + len(a[i].Response) + 3; n > 64 {
			t.Fatalf("pair too long for context 64 (%d): %+v", n, a[i])
		}
	}
	if diff < 150 {
		t.Fatalf("seeds 1 and 2 share too many pairs (%d differ)", diff)
	}
	p := a[0]
	wrong := strings.Replace(p.Response, "Answer: ", "Answer: 1", 1)
	if task.Score(p.Prompt, wrong) != 0 || task.Score(p.Prompt, "no answer") != 0 || task.Score("not a prompt", p.Response) != 0 {
		t.Fatal("wrong outputs must score 0")
	}
	if _, err := Get("nope"); err == nil || !strings.Contains(err.Error(), "arith") {
		t.Fatalf("unknown task error should list the tasks: %v", err)
	}
}
