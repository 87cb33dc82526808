package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/workflows"
)

// syncBuf is a log sink shared by a subprocess and the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestKillWorkerMidTrain builds the worker binary, kills it with SIGKILL in the middle of a
// round's training, starts a second one, and checks that the run completes with the Train
// activity resumed from its last trainer checkpoint in S3 rather than from step 0.
func TestKillWorkerMidTrain(t *testing.T) {
	st := stacktest.Start(t, stack.Options{})
	bin := filepath.Join(t.TempDir(), "worker")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	start := func(log *syncBuf) *exec.Cmd {
		cmd := exec.Command(bin, "--metrics-addr", "")
		cmd.Env = append(os.Environ(), st.Env()...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	log1, log2 := &syncBuf{}, &syncBuf{}
	w1 := start(log1)
	defer func() { _ = w1.Process.Kill(); _ = w1.Wait() }()

	c, err := client.Dial(client.Options{HostPort: st.TemporalAddress()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	spec := workflows.RunSpec{
		Name: "kill", Rounds: 1, Task: "arith", N: 32, Seed: 5, Epochs: 8, BatchSize: 4, LR: 1e-3, MaxEval: 4,
		Generation:      activities.Sampling{Temperature: 1, MaxNewTokens: 16},
		BaseModel:       workflows.BaseSpec{DModel: 32, Layers: 2, Heads: 2, Context: 64, Epochs: 1, LR: 3e-3},
		CheckpointEvery: 3,
		Timeouts:        workflows.Timeouts{HeartbeatSeconds: 3, ActivityMinutes: 5},
	}
	id := workflows.WorkflowID(spec.Name)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "space"}, workflows.SelfPlay, spec)
	if err != nil {
		t.Fatal(err)
	}

	// Wait until round 1's training is past a checkpoint, then kill the worker outright.
	for {
		if ctx.Err() != nil {
			t.Fatalf("never saw round 1 training; worker log:\n%s", log1.String())
		}
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		var p activities.Progress
		for _, pa := range d.GetPendingActivities() {
			if pa.GetActivityType().GetName() == "Train" && pa.GetHeartbeatDetails() != nil {
				_ = converter.GetDefaultDataConverter().FromPayloads(pa.GetHeartbeatDetails(), &p)
			}
		}
		if p.Step >= 7 {
			t.Logf("killing worker at round %d step %d/%d", p.Round, p.Step, p.Total)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := w1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w1.Wait()

	w2 := start(log2)
	defer func() { _ = w2.Process.Signal(syscall.SIGTERM); _ = w2.Wait() }()
	var res workflows.RunResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("run: %v\nsecond worker log:\n%s", err, log2.String())
	}
	if res.Status != workflows.StatusCompleted || len(res.Rounds) != 2 {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(log2.String(), "resuming round 1 from step") {
		t.Errorf("second worker did not resume from a checkpoint; its log:\n%s", log2.String())
	}
}
