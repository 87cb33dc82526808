package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/space-sft/space/e2e/harness"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/worker/app"
	"github.com/space-sft/space/workflows"
)

// lockedBuf is a log sink shared by the in-process worker and the test.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// inProcessWorker runs a worker inside the test (cheaper than a process per case).
func inProcessWorker(t *testing.T, e *harness.Env) *lockedBuf {
	logs := &lockedBuf{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, app.Options{Client: e.Client, Storage: e.Stack.StorageConfig(), Identity: "inproc",
			Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	}()
	t.Cleanup(func() { stop(); <-done })
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	waitPollers(wctx, t, e, "inproc") // started: it has its bucket and polls
	return logs
}

// dataSpec is a one-round run on a JSONL dataset in the bucket.
func dataSpec(name, key string) workflows.RunSpec {
	s := smallSpec(name, 1, 1)
	s.Task, s.N, s.Data = "", 0, key
	return s
}

// goodLines are n valid, distinct pairs.
func goodLines(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"prompt": "What is %d+1?", "response": "%d"}`+"\n", i, i+1)
	}
	return b.String()
}

// failure is what a failed run left: the workflow's error and its activities' attempts.
type failure struct {
	err      error
	app      *temporal.ApplicationError
	attempts map[string]int32 // activity type -> highest attempt started
	actNonRe bool             // every failed activity attempt was marked non-retryable
	seconds  float64
}

// runFails starts a run and waits (at most limit) for it to fail.
func runFails(ctx context.Context, t *testing.T, e *harness.Env, spec workflows.RunSpec, limit time.Duration) failure {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t0 := time.Now()
	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(spec.Name), TaskQueue: harness.TaskQueue}, workflows.SelfPlay, spec, nil)
	if err != nil {
		t.Fatalf("start %s: %v", spec.Name, err)
	}
	var res workflows.RunResult
	f := failure{err: run.Get(ctx, &res), attempts: map[string]int32{}, actNonRe: true}
	f.seconds = time.Since(t0).Seconds()
	if f.err == nil {
		t.Fatalf("run %s completed, want a failure", spec.Name)
	}
	if ctx.Err() != nil {
		t.Fatalf("run %s did not fail within %s: %v", spec.Name, limit, f.err)
	}
	errors.As(f.err, &f.app)
	types := map[int64]string{}
	for _, ev := range e.History(context.Background(), workflows.WorkflowID(spec.Name), "") {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			types[ev.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			typ := types[a.GetScheduledEventId()]
			f.attempts[typ] = max(f.attempts[typ], a.GetAttempt())
		}
		if a := ev.GetActivityTaskFailedEventAttributes(); a != nil {
			if !a.GetFailure().GetApplicationFailureInfo().GetNonRetryable() {
				f.actNonRe = false
			}
		}
	}
	return f
}

// check asserts a fast, non-retryable failure of type typ whose message names every want.
func (f failure) check(t *testing.T, typ string, want ...string) {
	t.Helper()
	if f.app == nil {
		t.Fatalf("error is not an ApplicationError: %v", f.err)
	}
	if !f.app.NonRetryable() || f.app.Type() != typ {
		t.Errorf("error type %q non-retryable %v, want %q non-retryable: %v", f.app.Type(), f.app.NonRetryable(), typ, f.err)
	}
	if !f.actNonRe {
		t.Errorf("a failed activity was not marked non-retryable: %v", f.err)
	}
	for typ, n := range f.attempts {
		if n > 1 {
			t.Errorf("activity %s ran %d attempts, want 1 (the error cannot be fixed by a retry)", typ, n)
		}
	}
	msg := strings.ToLower(f.err.Error())
	for _, w := range want {
		if !strings.Contains(msg, strings.ToLower(w)) {
			t.Errorf("error does not say %q: %v", w, f.err)
		}
	}
	t.Logf("%.1fs, attempts %v: %v", f.seconds, f.attempts, f.app.Error())
}

// TestBadInput feeds bad datasets, specs and storage states to one stack and one in-process
// worker. Each must fail fast (no retry), with an error that names the input and says how to
// fix it, and lose nothing: the bad input is left as it was, committed rounds stay valid.
func TestBadInput(t *testing.T) {
	e := harness.NewEnv(t)
	logs := inProcessWorker(t, e)
	ctx, cancel := timeout(t, 5*time.Minute)
	defer cancel()

	t.Run("dataset", func(t *testing.T) {
		huge := make([]byte, 0, 100<<20+64) // a 100 MB line, made here, never committed
		huge = append(huge, `{"prompt": "`...)
		huge = append(huge, bytes.Repeat([]byte("a"), 100<<20)...)
		huge = append(huge, `", "response": "b"}`+"\n"...)
		long := `{"prompt": "` + strings.Repeat("x", 100) + `", "response": "y"}` + "\n"
		cases := []struct {
			name string
			data []byte
			want []string // besides the dataset's key
		}{
			{"empty", nil, []string{"no records", "at least one"}},
			{"not-json", []byte(goodLines(3) + "this is not json\n"), []string{"line 4", "not a JSON object", "one JSON object per line"}},
			{"no-prompt", []byte(goodLines(3) + `{"response": "r"}` + "\n"), []string{"line 4", "use one of the formats"}},
			{"no-response", []byte(goodLines(3) + `{"prompt": "p"}` + "\n"), []string{"line 4", `neither "response" nor "completion"`}},
			{"empty-prompt", []byte(goodLines(3) + `{"prompt": " ", "response": "r"}` + "\n"), []string{"line 4", "prompt is empty", "give it a prompt"}},
			{"empty-response", []byte(goodLines(3) + `{"prompt": "p", "response": ""}` + "\n"), []string{"line 4", "response is empty"}},
			{"too-long", []byte(goodLines(20) + long), []string{"record 21", "exceeds the context of 64", "base_model.context"}},
			{"bad-utf8", []byte(goodLines(3) + "{\"prompt\": \"p\xff\xfe\", \"response\": \"r\"}\n"), []string{"line 4", "UTF-8", "re-encode"}},
			{"huge-line", huge, []string{"line 1", "longer than", "split or shorten"}},
			{"unknown-format", []byte(`{"question": "q", "answer": "a"}` + "\n"), []string{"line 1", "use one of the formats"}},
			{"duplicates", []byte(goodLines(3) + goodLines(1)), []string{"line 4", "duplicate of line 1", "remove duplicate"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				key := "datasets/" + c.name + ".jsonl"
				obj, err := e.Store.Put(ctx, key, c.data)
				if err != nil {
					t.Fatal(err)
				}
				f := runFails(ctx, t, e, dataSpec("data-"+c.name, key), time.Minute)
				f.check(t, "InvalidInput", append([]string{key}, c.want...)...)
				if after, err := e.Store.Stat(ctx, key); err != nil || after.SHA256 != obj.SHA256 {
					t.Errorf("the dataset changed or vanished: %v", err)
				}
			})
		}
		huge = nil
	})

	t.Run("spec", func(t *testing.T) {
		spec := func(name string, edit func(*workflows.RunSpec)) workflows.RunSpec {
			s := smallSpec(name, 1, 1)
			edit(&s)
			return s
		}
		cases := []struct {
			name string
			spec workflows.RunSpec
			typ  string
			want []string
		}{
			{"zero-rounds", spec("spec-zero-rounds", func(s *workflows.RunSpec) { s.Rounds = 0 }), "InvalidSpec", []string{"rounds", "set rounds to 1 or more"}},
			{"negative-rounds", spec("spec-neg-rounds", func(s *workflows.RunSpec) { s.Rounds = -3 }), "InvalidSpec", []string{"rounds: is -3", "set rounds to 1 or more"}},
			{"negative-mu", spec("spec-neg-mu", func(s *workflows.RunSpec) { s.Mu = -1 }), "InvalidSpec", []string{"mu: is -1", "between 1 and 1024"}},
			{"unknown-method", spec("spec-method", func(s *workflows.RunSpec) { s.Method = "dpo" }), "InvalidSpec", []string{`method: "dpo" is not a known method`, `use one of "space"`}},
			{"negative-lr", spec("spec-neg-lr", func(s *workflows.RunSpec) { s.LR = -1e-3 }), "InvalidSpec", []string{"lr: is -0.001", "finite positive learning rate"}},
			{"shards-over-data", spec("spec-shards", func(s *workflows.RunSpec) { s.Shards = 100 }), "InvalidInput", []string{"100 shards for 32 train prompts", "set shards to at most 32"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				runFails(ctx, t, e, c.spec, time.Minute).check(t, c.typ, c.want...)
			})
		}
		t.Run("nan-lr", func(t *testing.T) {
			// NaN cannot travel in JSON: the SDK refuses to start the run, and Validate (which
			// the CLI runs before starting) names the field.
			s := spec("spec-nan-lr", func(s *workflows.RunSpec) { s.LR = math.NaN() })
			_, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(s.Name), TaskQueue: harness.TaskQueue}, workflows.SelfPlay, s, nil)
			if err == nil || !strings.Contains(err.Error(), "NaN") {
				t.Errorf("starting a run with lr NaN: %v, want an error about NaN", err)
			}
			if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "lr: is NaN") || !strings.Contains(err.Error(), "finite positive") {
				t.Errorf("Validate: %v", err)
			}
		})
		t.Run("base-context", func(t *testing.T) {
			tok := model.NewByteTokenizer()
			m, err := model.New(model.Config{VocabSize: tok.VocabSize(), Shape: model.Shape{DModel: 32, Layers: 1, Heads: 2, Context: 64}, Seed: 1}, tok)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := m.Save(&buf); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Store.Put(ctx, "bases/d32.safetensors", buf.Bytes()); err != nil {
				t.Fatal(err)
			}
			// The base's shape is the run's; a run context beyond its positions is refused
			// before anything is trained, naming both numbers.
			s := spec("spec-base", func(s *workflows.RunSpec) {
				s.Base, s.Context = "bases/d32.safetensors", 128
			})
			runFails(ctx, t, e, s, time.Minute).check(t, "InvalidInput", "bases/d32.safetensors", "context: is 128", "has 64 positions", "at most 64")
		})
		t.Run("base-not-checkpoint", func(t *testing.T) {
			if _, err := e.Store.Put(ctx, "bases/hf/config.json", []byte(`{"model_type":"gpt2"}`)); err != nil {
				t.Fatal(err)
			}
			s := spec("spec-base-hf", func(s *workflows.RunSpec) { s.Base = "bases/hf/config.json" })
			runFails(ctx, t, e, s, time.Minute).check(t, "InvalidInput", "bases/hf/config.json", "not a space checkpoint", "space import hf")
		})
	})

	t.Run("storage", func(t *testing.T) {
		t.Run("wrong-credentials", func(t *testing.T) {
			const bad = "not-the-secret-0123456789"
			cfg := e.Stack.StorageConfig()
			cfg.SecretKey = bad
			cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
			defer ccancel()
			err := app.Run(cctx, app.Options{Client: e.Client, Storage: cfg, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
			if err == nil || !strings.Contains(err.Error(), "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") {
				t.Errorf("worker with a wrong secret: %v, want an access-denied error naming the variables", err)
			}
			if err != nil && strings.Contains(err.Error(), bad) {
				t.Errorf("the error shows the secret: %v", err)
			}
			t.Logf("worker refuses to start: %v", err)
		})
		t.Run("missing-bucket", func(t *testing.T) {
			// A store pointed at a bucket that does not exist gets a permanent error that
			// says how to create it; a worker refuses to start with it (no bucket created)
			// unless told to create it.
			cfg := e.Stack.StorageConfig()
			cfg.Bucket = "no-such-bucket"
			st, err := storage.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = st.Get(ctx, "runs/x/spec.json", "")
			var be *storage.BucketError
			if !errors.As(err, &be) || !storage.IsPermanent(err) || !strings.Contains(err.Error(), "create it") {
				t.Errorf("get from a missing bucket: %v, want a permanent BucketError saying how to create it", err)
			}
			t.Logf("%v", err)
			quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
			wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
			defer wcancel()
			err = app.Run(wctx, app.Options{Client: e.Client, Storage: cfg, Log: quiet})
			if !errors.As(err, &be) || !strings.Contains(err.Error(), "--create-bucket") {
				t.Errorf("worker with a missing bucket: %v, want a BucketError naming --create-bucket", err)
			}
			if err := st.CheckBucket(ctx); !errors.As(err, &be) {
				t.Errorf("after the refused start the bucket exists (%v): the worker created it", err)
			}
			// With CreateBucket the worker creates it and runs until its context ends.
			cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
			defer ccancel()
			cfg.Bucket = "created-by-worker"
			if err := app.Run(cctx, app.Options{Client: e.Client, Storage: cfg, CreateBucket: true, Log: quiet, TaskQueue: "create-bucket-test"}); err != nil {
				t.Errorf("worker with --create-bucket: %v", err)
			}
			st2, err := storage.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := st2.CheckBucket(ctx); err != nil {
				t.Errorf("worker with CreateBucket did not create the bucket: %v", err)
			}
		})
		t.Run("object-deleted-mid-run", func(t *testing.T) {
			s := smallSpec("store-deleted", 1, 1)
			f := tamperMidRun(ctx, t, e, s, func(key string) {
				if err := e.Store.Delete(ctx, key); err != nil {
					t.Fatal(err)
				}
			})
			f.check(t, "InvalidInput", storage.BaseModelKey(s.Name), "not found")
		})
		t.Run("corrupted-checkpoint", func(t *testing.T) {
			s := smallSpec("store-corrupt", 1, 1)
			f := tamperMidRun(ctx, t, e, s, func(key string) {
				// Flip one byte of the file behind the object; its stored sha256 stays.
				path := filepath.Join(e.Stack.S3Dir(), e.Stack.Bucket(), key)
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				b[len(b)/2] ^= 0x40
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			})
			f.check(t, "Integrity", storage.BaseModelKey(s.Name), "integrity check failed", "sha256")
		})
		t.Run("gateway-down", func(t *testing.T) {
			// Unreachable storage is transient: the activity is retried with backoff, each
			// failure saying what is wrong; when the gateway is back the run completes. (With
			// the gateway down for good, the 10th attempt fails the run after about 4 minutes.)
			if err := e.Stack.StopS3(); err != nil {
				t.Fatal(err)
			}
			s := smallSpec("store-down", 1, 1)
			e.StartRun(ctx, s)
			var last harness.Pending
			harness.WaitFor(ctx, t, "Prepare's third attempt", func() bool {
				for _, p := range e.PendingActivities(ctx, s.Name) {
					if p.Type == "Prepare" && p.Attempt >= 3 {
						last = p
						return true
					}
				}
				return false
			})
			if !strings.Contains(last.LastFailure, "is the gateway running") {
				t.Errorf("attempt %d's last failure does not say the gateway is down: %q", last.Attempt, last.LastFailure)
			}
			t.Logf("Prepare attempt %d, last failure: %s", last.Attempt, last.LastFailure)
			if err := e.Stack.StartS3(ctx); err != nil {
				t.Fatal(err)
			}
			runToEnd(ctx, t, e, s)
		})
	})

	t.Run("nan-loss", func(t *testing.T) {
		s := smallSpec("nan-loss", 1, 2)
		s.LR = 1e30
		f := runFails(ctx, t, e, s, time.Minute)
		f.check(t, "NonFinite", "round 1 train", "non-finite", "at step", "lower the learning rate")
		if ok, _ := e.Store.Exists(ctx, storage.RoundModelKey(s.Name, 1)); ok {
			t.Errorf("round 1 wrote a model despite the non-finite loss")
		}
		// Every trainer checkpoint the round left is finite: none was written after the NaN.
		objs, _ := e.Store.List(ctx, storage.TrainPrefix(s.Name, 1))
		for _, o := range objs {
			b, err := e.Store.Get(ctx, o.Key, "")
			if err != nil {
				t.Fatal(err)
			}
			m, err := model.Load(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("%s: %v", o.Key, err)
			}
			for _, p := range m.Params {
				for _, v := range p.Value.Data().([]float32) {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("%s: %s holds %v", o.Key, p.Name, v)
					}
				}
			}
		}
		t.Logf("%d finite trainer checkpoints left", len(objs))
	})
	_ = logs
}

// tamperMidRun starts a run, pauses it right after its base model is written, applies
// tamper to the base model's key, resumes it, and returns the run's failure. Round 0's
// inputs (manifest) must still verify afterwards: nothing else was lost.
func tamperMidRun(ctx context.Context, t *testing.T, e *harness.Env, s workflows.RunSpec, tamper func(key string)) failure {
	t.Helper()
	key := storage.BaseModelKey(s.Name)
	id := workflows.WorkflowID(s.Name)
	e.StartRun(ctx, s)
	harness.WaitFor(ctx, t, "the base model", func() bool { ok, _ := e.Store.Exists(ctx, key); return ok })
	if err := e.Client.SignalWorkflow(ctx, id, "", workflows.SignalPause, nil); err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(ctx, t, "the run to pause", func() bool {
		v, err := e.Client.QueryWorkflow(ctx, id, "", workflows.QueryProgress)
		if err != nil {
			return false
		}
		var p workflows.Progress
		return v.Get(&p) == nil && p.Phase == workflows.PhasePaused
	})
	tamper(key)
	if err := e.Client.SignalWorkflow(ctx, id, "", workflows.SignalResume, nil); err != nil {
		t.Fatal(err)
	}
	var res workflows.RunResult
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	f := failure{attempts: map[string]int32{}, actNonRe: true}
	t0 := time.Now()
	f.err = e.Client.GetWorkflow(cctx, id, "").Get(cctx, &res)
	f.seconds = time.Since(t0).Seconds()
	if f.err == nil {
		t.Fatalf("run %s completed after its base model was tampered with", s.Name)
	}
	errors.As(f.err, &f.app)
	for _, ev := range e.History(ctx, id, "") {
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
			f.attempts[fmt.Sprint("event ", a.GetScheduledEventId())] = a.GetAttempt()
		}
		if a := ev.GetActivityTaskFailedEventAttributes(); a != nil && !a.GetFailure().GetApplicationFailureInfo().GetNonRetryable() {
			f.actNonRe = false
		}
	}
	if _, err := storage.ReadManifest(ctx, e.Store, storage.InputsManifestKey(s.Name), ""); err != nil {
		t.Errorf("the run's inputs no longer verify: %v", err)
	}
	return f
}

var slow = flag.Bool("e2e.slow", false, "also run the slow e2e tests (TestGatewayDownForGood: about 4.5 minutes)")

// TestGatewayDownForGood starts a run with the S3 gateway down and leaves it down: Prepare is
// retried by the retry policy (10 attempts, backoff 1 s doubling to 1 min, about 4 minutes)
// and the run then fails with the storage error that says what to do. Slow: -e2e.slow.
func TestGatewayDownForGood(t *testing.T) {
	if !*slow {
		t.Skip("slow (about 4.5 minutes): run with -args -e2e.slow")
	}
	e := harness.NewEnv(t)
	inProcessWorker(t, e)
	ctx, cancel := timeout(t, 9*time.Minute)
	defer cancel()
	if err := e.Stack.StopS3(); err != nil {
		t.Fatal(err)
	}
	s := smallSpec("gw-down", 1, 1)
	t0 := time.Now()
	e.StartRun(ctx, s)
	go func() { // progress, for the log
		for ctx.Err() == nil {
			time.Sleep(20 * time.Second)
			for _, p := range e.PendingActivities(ctx, s.Name) {
				t.Logf("%.0fs: %s attempt %d started %v: %s", time.Since(t0).Seconds(), p.Type, p.Attempt, p.Started, p.LastFailure)
			}
		}
	}()
	var res workflows.RunResult
	err := e.Client.GetWorkflow(ctx, workflows.WorkflowID(s.Name), "").Get(ctx, &res)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("run with the gateway down: %v", err)
	}
	attempts := int32(0)
	for _, ev := range e.History(ctx, workflows.WorkflowID(s.Name), "") {
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			attempts = max(attempts, a.GetAttempt())
		}
	}
	if attempts != 10 || !strings.Contains(err.Error(), "is the gateway running? make up") {
		t.Errorf("after %d attempts: %v; want 10 attempts and the gateway hint", attempts, err)
	}
	t.Logf("failed after %.0fs and %d attempts: %v", time.Since(t0).Seconds(), attempts, err)
}
