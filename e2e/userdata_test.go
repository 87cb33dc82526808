package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"go.temporal.io/sdk/client"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/e2e/harness"
	"github.com/space-sft/space/eval"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

// TestUserData runs one round on a user's own files, as issue 13 asks: the train set is a
// Parquet file of Alpaca records with a duplicate (kept by allow_duplicates), the held-out
// set is a fixed evaluation file (test_data, JSONL preference records), and a scorer is
// set. The run must train on every train record, evaluate on exactly the test_data
// prompts, and report exact_match, f1 and scorer_pass (no task_score). A {text} corpus
// runs as data (empty prompts) to the end. A bad test_data
// record fails the run at Prepare, naming the test file and the line.
func TestUserData(t *testing.T) {
	e := harness.NewEnv(t)
	inProcessWorker(t, e)
	ctx, cancel := timeout(t, 2*time.Minute)
	defer cancel()

	type alpaca struct {
		Instruction string `parquet:"instruction"`
		Input       string `parquet:"input"`
		Output      string `parquet:"output"`
	}
	var rows []alpaca
	for i := range 31 {
		rows = append(rows, alpaca{"Add one.", fmt.Sprint(i), fmt.Sprint(i + 1)})
	}
	rows = append(rows, rows[0]) // a duplicate: kept, with allow_duplicates
	var pq bytes.Buffer
	if err := parquet.Write(&pq, rows); err != nil {
		t.Fatal(err)
	}
	var test strings.Builder
	want := map[string]string{} // the test_data prompts and their chosen responses
	for i := 40; i < 46; i++ {
		p := fmt.Sprintf("Add one.\n\n%d", i)
		want[p] = fmt.Sprint(i + 1)
		fmt.Fprintf(&test, `{"prompt": %q, "chosen": "%d", "rejected": "%d"}`+"\n", p, i+1, i)
	}
	put := func(key string, b []byte) {
		if _, err := e.Store.Put(ctx, key, b); err != nil {
			t.Fatal(err)
		}
	}
	put("data/add-one.parquet", pq.Bytes())
	put("data/add-one-eval.jsonl", []byte(test.String()))

	s := dataSpec("userdata", "data/add-one.parquet")
	s.TestData, s.AllowDuplicates, s.MaxEval = "data/add-one-eval.jsonl", true, 0
	s.Scorer.Regex = `^[0-9]+$`
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(s.Name), TaskQueue: harness.TaskQueue}, workflows.SelfPlay, s, nil); err != nil {
		t.Fatal(err)
	}
	res := runToEnd(ctx, t, e, s)

	m, err := storage.ReadManifest(ctx, e.Store, storage.InputsManifestKey(s.Name), "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Meta["n_train"] != "32" || m.Meta["n_test"] != "6" || m.Meta["test_source"] != s.TestData {
		t.Errorf("inputs manifest meta %v: want all 32 records trained on and the 6 of test_data held out", m.Meta)
	}
	for _, r := range res.Rounds {
		for _, k := range []string{eval.ExactMatch, eval.F1, eval.ScorerPass} {
			v, ok := r.Metrics[k]
			if !ok || v < 0 || v > 1 {
				t.Errorf("round %d: %s = %v (present %v), want a fraction", r.Round, k, v, ok)
			}
		}
		if _, ok := r.Metrics[eval.TaskScore]; ok {
			t.Errorf("round %d has a task_score on user data", r.Round)
		}
		t.Logf("round %d: exact_match %.3g f1 %.3g scorer_pass %.3g test_nll %.3g", r.Round,
			r.Metrics[eval.ExactMatch], r.Metrics[eval.F1], r.Metrics[eval.ScorerPass], r.Metrics[eval.NLL])
	}
	b, err := e.Store.Get(ctx, storage.MetricsKey(s.Name, len(res.Rounds)-1), "")
	if err != nil {
		t.Fatal(err)
	}
	var f activities.MetricsFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Samples) != len(want) {
		t.Errorf("%d samples, want one per test_data prompt (%d)", len(f.Samples), len(want))
	}
	for _, sm := range f.Samples {
		if ref, ok := want[sm.Prompt]; !ok || sm.Real != ref {
			t.Errorf("sample %q (real %q) is not a test_data record", sm.Prompt, sm.Real)
		}
	}

	// A {text} corpus is a run's data as is: pairs with an empty prompt, the texts learnt,
	// unconditional samples as the synthetic side.
	var corpus strings.Builder
	for i := range 32 {
		fmt.Fprintf(&corpus, `{"text": "count %d %d %d"}`+"\n", i, i+1, i+2)
	}
	put("data/corpus.jsonl", []byte(corpus.String()))
	txt := dataSpec("userdata-text", "data/corpus.jsonl")
	if _, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(txt.Name), TaskQueue: harness.TaskQueue}, workflows.SelfPlay, txt, nil); err != nil {
		t.Fatal(err)
	}
	tres := runToEnd(ctx, t, e, txt)
	if _, ok := tres.Rounds[len(tres.Rounds)-1].Metrics[eval.F1]; !ok {
		t.Errorf("text corpus run: no f1 in %v", tres.Rounds[len(tres.Rounds)-1].Metrics)
	}

	// A bad test_data record: the run fails at Prepare, naming the file, the line and the fix.
	put("data/bad-eval.jsonl", []byte(test.String()+`{"prompt": "x", "chosen": ""}`+"\n"))
	bad := dataSpec("userdata-bad-eval", "data/add-one.parquet")
	bad.TestData, bad.AllowDuplicates = "data/bad-eval.jsonl", true
	runFails(ctx, t, e, bad, time.Minute).check(t, "InvalidInput", "data/bad-eval.jsonl line 7", "chosen is empty", "give it a response")

	// Without allow_duplicates the duplicate row stops the run, and the message names the field.
	dup := dataSpec("userdata-dup", "data/add-one.parquet")
	dup.TestData = "data/add-one-eval.jsonl"
	runFails(ctx, t, e, dup, time.Minute).check(t, "InvalidInput", "data/add-one.parquet row 32", "duplicate of row 1", `"allow_duplicates": true`)
}
