package e2e

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/space-sft/space/e2e/harness"
	"github.com/space-sft/space/workflows"
)

// TestSecretsStayOut runs one run alone and then two at once on one worker process (debug
// logs) and one bucket. The S3 access key and secret key must appear nowhere in the worker's
// log, in any event of the runs' workflow histories (payloads included, every execution of
// each workflow ID), or in the objects the runs wrote; and the two concurrent runs must give
// the same models as the run alone.
func TestSecretsStayOut(t *testing.T) {
	e := harness.NewEnv(t)
	ctx, cancel := timeout(t, 4*time.Minute)
	defer cancel()
	w := e.StartWorker("sec", "--log-level", "debug")

	alone := smallSpec("sec-alone", 2, 1)
	e.StartRun(ctx, alone)
	want := runToEnd(ctx, t, e, alone, w)

	names := []string{"sec-a", "sec-b"}
	for _, n := range names {
		s := alone
		s.Name = n
		e.StartRun(ctx, s)
	}
	var wg sync.WaitGroup
	got := make([]workflows.RunResult, len(names))
	errs := make([]error, len(names))
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.Client.GetWorkflow(ctx, workflows.WorkflowID(n), "").Get(ctx, &got[i])
		}()
	}
	wg.Wait()
	for i, n := range names {
		if errs[i] != nil {
			t.Fatalf("run %s: %v\n%s", n, errs[i], tail(w.Log(), 4000))
		}
		sameModels(t, got[i], want)
	}
	t.Logf("two concurrent runs: round models %s, %s; alone %s",
		short(got[0].Rounds[2].ModelSHA256), short(got[1].Rounds[2].ModelSHA256), short(want.Rounds[2].ModelSHA256))

	access, secret := e.Stack.Credentials()
	secrets := map[string]string{"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret}
	scan := func(where string, data []byte) {
		for name, v := range secrets {
			if bytes.Contains(data, []byte(v)) {
				i := bytes.Index(data, []byte(v))
				t.Errorf("%s contains %s: ...%s...", where, name, data[max(0, i-80):min(len(data), i+len(v)+20)])
			}
		}
	}

	log := w.Log()
	if !strings.Contains(log, "level=DEBUG") && !strings.Contains(log, "worker started") {
		t.Fatalf("worker log looks empty:\n%s", log)
	}
	scan("worker log", []byte(log))

	events := 0
	for _, n := range append([]string{alone.Name}, names...) {
		id := workflows.WorkflowID(n)
		for _, runID := range e.RunIDs(ctx, id) {
			for _, ev := range e.History(ctx, id, runID) {
				b, err := proto.Marshal(ev) // payload bytes are embedded as they are
				if err != nil {
					t.Fatal(err)
				}
				scan("history of "+id+" event "+ev.GetEventType().String(), b)
				events++
			}
		}
	}

	objs, err := e.Store.List(ctx, "runs/")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		b, err := e.Store.Get(ctx, o.Key, "")
		if err != nil {
			t.Fatal(err)
		}
		scan("object "+o.Key, b)
	}
	t.Logf("scanned %d bytes of worker log, %d history events, %d objects: no credentials", len(log), events, len(objs))
}
