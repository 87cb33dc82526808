// Package harness runs space workers as real processes for end-to-end tests: it builds the
// worker binary once per test binary, starts workers against a local stack (internal/stack)
// with their own identity and log file, kills them with SIGKILL, restarts them, and reads
// what Temporal and S3 say about a run (pending activities, histories, trainer checkpoints).
//
// Everything here is for tests in e2e/; nothing in the product imports it.
package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/internal/stack"
	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

// TaskQueue is the queue the workers poll and runs start on.
const TaskQueue = "space"

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// BuildTags are the tags the worker binary is built with: the test binary's own BLAS
// backend, so the subprocess computes exactly what an in-process worker would.
func BuildTags() []string {
	if model.Backend() == "openblas" {
		return []string{"openblas"}
	}
	return nil
}

// WorkerBinary builds ./worker once per test binary and returns its path. Call Cleanup
// from TestMain to remove it.
func WorkerBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := stack.ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		if buildDir, err = os.MkdirTemp("", "space-e2e-"); err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(buildDir, "worker")
		args := []string{"build", "-o", buildBin}
		if tags := BuildTags(); len(tags) > 0 {
			args = append(args, "-tags", strings.Join(tags, ","))
		}
		args = append(args, "./worker")
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build worker: %v", buildErr)
	}
	return buildBin
}

// Cleanup removes the built worker binary.
func Cleanup() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// Env is a local stack with a Temporal client and a store, for one test.
type Env struct {
	T      testing.TB
	Stack  *stack.Stack
	Client client.Client
	Store  *storage.Store
	Dir    string // logs of the workers

	mu      sync.Mutex
	workers []*Worker
}

// NewEnv starts a local stack on free ports (stacktest: skipped with -short, fails without
// `make tools`) and dials it.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	return NewEnvWith(t, stack.Options{})
}

// NewEnvWith is NewEnv with stack options (e.g. Dir: a folder whose s3/ is a small tmpfs).
func NewEnvWith(t testing.TB, opts stack.Options) *Env {
	t.Helper()
	st := stacktest.Start(t, opts)
	e := &Env{T: t, Stack: st, Dir: t.TempDir()}
	var err error
	e.Client, err = client.Dial(client.Options{HostPort: st.TemporalAddress(), Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Client.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if e.Store, err = storage.New(ctx, st.StorageConfig()); err != nil {
		t.Fatal(err)
	}
	return e
}

// Worker is one worker subprocess. Start it again after Kill to model a restarted machine.
type Worker struct {
	Identity string
	LogPath  string
	Args     []string // extra flags
	Env      []string // extra KEY=VALUE (after the stack's, so they win)
	Dir      string   // working directory ("" = the test's)
	Bin      string   // the worker binary ("" = WorkerBinary: ./worker of this tree)

	env  *Env
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	runs int
}

// NewWorker describes a worker; Start starts it. Its log file is <Dir>/<identity>.log,
// appended to across restarts.
func (e *Env) NewWorker(identity string, args ...string) *Worker {
	w := &Worker{Identity: identity, LogPath: filepath.Join(e.Dir, identity+".log"), Args: args, env: e}
	e.mu.Lock()
	e.workers = append(e.workers, w)
	e.mu.Unlock()
	e.T.Cleanup(func() { w.Stop() })
	return w
}

// StartWorker is NewWorker + Start.
func (e *Env) StartWorker(identity string, args ...string) *Worker {
	w := e.NewWorker(identity, args...)
	w.Start()
	return w
}

// Start starts the process (fails the test if it cannot).
func (w *Worker) Start() {
	t := w.env.T
	t.Helper()
	bin := w.Bin
	if bin == "" {
		bin = WorkerBinary(t)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd != nil {
		t.Fatalf("worker %s already running", w.Identity)
	}
	logf, err := os.OpenFile(w.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	w.runs++
	fmt.Fprintf(logf, "--- harness: start %s (#%d) %s\n", w.Identity, w.runs, time.Now().Format(time.RFC3339Nano))
	args := append([]string{"--identity", w.Identity, "--metrics-addr", "", "--heartbeat-throttle", "200ms"}, w.Args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), w.env.Stack.Env()...), w.Env...)
	cmd.Env = append(cmd.Env, "OPENBLAS_NUM_THREADS=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = w.Dir
	// Pdeathsig: a test binary killed by its timeout takes its workers with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start worker %s: %v", w.Identity, err)
	}
	w.cmd = cmd
	w.done = make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(w.done)
}

// Running reports whether the process is alive.
func (w *Worker) Running() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil {
		return false
	}
	select {
	case <-w.done:
		return false
	default:
		return true
	}
}

// PID is the process id (0 when not started).
func (w *Worker) PID() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil {
		return 0
	}
	return w.cmd.Process.Pid
}

// Kill sends SIGKILL (kill -9) and waits for the process to be gone: no graceful shutdown,
// no last heartbeat, no cleanup, as when a machine dies.
func (w *Worker) Kill() {
	w.signal(syscall.SIGKILL, 0)
}

// Stop sends SIGTERM and waits up to 15 s, then SIGKILL.
func (w *Worker) Stop() {
	w.signal(syscall.SIGTERM, 15*time.Second)
}

func (w *Worker) signal(sig syscall.Signal, grace time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil {
		return
	}
	pid := w.cmd.Process.Pid
	_ = syscall.Kill(pid, sig)
	select {
	case <-w.done:
	case <-time.After(grace + 5*time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-w.done
	}
	w.cmd = nil
	f, err := os.OpenFile(w.LogPath, os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		fmt.Fprintf(f, "--- harness: %s %s (pid %d) %s\n", sig, w.Identity, pid, time.Now().Format(time.RFC3339Nano))
		f.Close()
	}
}

// Restart is Kill then Start.
func (w *Worker) Restart() {
	w.Kill()
	w.Start()
}

// Log returns the worker's log so far (all its lives).
func (w *Worker) Log() string {
	b, _ := os.ReadFile(w.LogPath)
	return string(b)
}

// LogSince returns the log of the worker's latest life only.
func (w *Worker) LogSince() string {
	s := w.Log()
	if i := strings.LastIndex(s, "--- harness: start "); i >= 0 {
		return s[i:]
	}
	return s
}

// StartRun starts a SelfPlay run with the spec.
func (e *Env) StartRun(ctx context.Context, spec workflows.RunSpec) client.WorkflowRun {
	e.T.Helper()
	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(spec.Name), TaskQueue: TaskQueue}, workflows.SelfPlay, spec, nil)
	if err != nil {
		e.T.Fatalf("start run %s: %v", spec.Name, err)
	}
	return run
}

// Pending is one pending activity of a run, as DescribeWorkflowExecution reports it.
type Pending struct {
	RunID       string // the workflow run (Continue-As-New starts new ones)
	ActivityID  string
	Type        string
	Started     bool // a worker holds it (state STARTED), as opposed to SCHEDULED (waiting or backing off)
	LastStarted time.Time
	LastBeat    time.Time
	Attempt     int32
	Identity    string // worker that last heartbeated or started it
	Progress    activities.Heartbeat
	HasProgress bool
	LastFailure string
}

// PendingActivities lists a run's pending activities (empty when the run is between
// activities or closed). Errors (a server restarting) return nil.
func (e *Env) PendingActivities(ctx context.Context, run string) []Pending {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	d, err := e.Client.DescribeWorkflowExecution(cctx, workflows.WorkflowID(run), "")
	if err != nil {
		return nil
	}
	var out []Pending
	for _, pa := range d.GetPendingActivities() {
		p := Pending{
			RunID: d.GetWorkflowExecutionInfo().GetExecution().GetRunId(), ActivityID: pa.GetActivityId(),
			Type: pa.GetActivityType().GetName(), Attempt: pa.GetAttempt(), Identity: pa.GetLastWorkerIdentity(),
			Started: pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED,
		}
		if ts := pa.GetLastStartedTime(); ts != nil {
			p.LastStarted = ts.AsTime()
		}
		if ts := pa.GetLastHeartbeatTime(); ts != nil {
			p.LastBeat = ts.AsTime()
		}
		if hd := pa.GetHeartbeatDetails(); hd != nil {
			if converter.GetDefaultDataConverter().FromPayloads(hd, &p.Progress) == nil {
				p.HasProgress = true
			}
		}
		if f := pa.GetLastFailure(); f != nil {
			p.LastFailure = f.GetMessage()
		}
		out = append(out, p)
	}
	return out
}

// TrainCheckpoints returns the steps of the trainer checkpoints stored for a round.
func (e *Env) TrainCheckpoints(ctx context.Context, run string, round int) []int {
	objs, err := e.Store.List(ctx, storage.TrainPrefix(run, round))
	if err != nil {
		return nil
	}
	var steps []int
	for _, o := range objs {
		var s int
		base := filepath.Base(o.Key)
		if _, err := fmt.Sscanf(base, "step-%07d.safetensors", &s); err == nil {
			steps = append(steps, s)
		}
	}
	return steps
}

// History returns every event of a workflow execution (runID "" = the latest run).
func (e *Env) History(ctx context.Context, workflowID, runID string) []*historypb.HistoryEvent {
	e.T.Helper()
	var evs []*historypb.HistoryEvent
	it := e.Client.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			e.T.Fatalf("history of %s: %v", workflowID, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// RunIDs returns the run ids of a workflow ID's executions (Continue-As-New makes several),
// oldest first, by following the chain from the first history's continued-as-new events.
func (e *Env) RunIDs(ctx context.Context, workflowID string) []string {
	e.T.Helper()
	// Walk back from the latest run through "continued execution run id".
	var ids []string
	runID := ""
	for i := 0; i < 100; i++ {
		evs := e.History(ctx, workflowID, runID)
		if len(evs) == 0 {
			break
		}
		cur := ""
		if d, err := e.Client.DescribeWorkflowExecution(ctx, workflowID, runID); err == nil {
			cur = d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		}
		ids = append([]string{cur}, ids...)
		prev := evs[0].GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
		if prev == "" {
			break
		}
		runID = prev
	}
	return ids
}

// WaitFor polls cond every 50 ms until it is true or ctx ends (then fails with what).
func WaitFor(ctx context.Context, t testing.TB, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// quietLogger drops the SDK client's logs (the tests print what matters).
type quietLogger struct{}

func (quietLogger) Debug(string, ...interface{}) {}
func (quietLogger) Info(string, ...interface{})  {}
func (quietLogger) Warn(string, ...interface{})  {}
func (quietLogger) Error(string, ...interface{}) {}

// ActivityTime is one completed activity of a run, from its history.
type ActivityTime struct {
	Type    string
	Attempt int32
	Seconds float64 // last attempt: started to completed
}

// ActivityTimes lists the completed activities of every execution of a workflow ID, in order.
func (e *Env) ActivityTimes(ctx context.Context, workflowID string) []ActivityTime {
	e.T.Helper()
	var out []ActivityTime
	for _, runID := range e.RunIDs(ctx, workflowID) {
		typ := map[int64]string{}
		started := map[int64]*historypb.HistoryEvent{}
		for _, ev := range e.History(ctx, workflowID, runID) {
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				typ[ev.GetEventId()] = a.GetActivityType().GetName()
			}
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
				started[ev.GetEventId()] = ev
			}
			if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
				st := started[a.GetStartedEventId()]
				out = append(out, ActivityTime{
					Type: typ[a.GetScheduledEventId()], Attempt: st.GetActivityTaskStartedEventAttributes().GetAttempt(),
					Seconds: ev.GetEventTime().AsTime().Sub(st.GetEventTime().AsTime()).Seconds(),
				})
			}
		}
	}
	return out
}

// ActivityOutcome is how one activity of one workflow run ended, from its history: retried
// attempts leave no events of their own, but the started event of the last one carries the
// attempt number and the previous attempt's failure.
type ActivityOutcome struct {
	Type        string
	Attempt     int32
	Seconds     float64 // scheduled to closed, every attempt and backoff included
	Completed   bool
	LastFailure string // the failure of the attempt before the last ("" when the first succeeded)
}

// Outcome returns how activity activityID of workflow run runID ended (ok false while it
// has not closed).
func (e *Env) Outcome(ctx context.Context, workflowID, runID, activityID string) (ActivityOutcome, bool) {
	e.T.Helper()
	var out ActivityOutcome
	var sched *historypb.HistoryEvent
	var startedID int64
	for _, ev := range e.History(ctx, workflowID, runID) {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityId() == activityID {
			sched = ev
			out.Type = a.GetActivityType().GetName()
			continue
		}
		if sched == nil {
			continue
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetScheduledEventId() == sched.GetEventId() {
			startedID = ev.GetEventId()
			out.Attempt = a.GetAttempt()
			if f := a.GetLastFailure(); f != nil {
				out.LastFailure = f.GetMessage()
				if c := f.GetCause(); c != nil {
					out.LastFailure += ": " + c.GetMessage()
				}
			}
			continue
		}
		closed := false
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil && a.GetScheduledEventId() == sched.GetEventId() {
			closed, out.Completed = true, true
		}
		if a := ev.GetActivityTaskFailedEventAttributes(); a != nil && a.GetScheduledEventId() == sched.GetEventId() {
			closed = true
		}
		if a := ev.GetActivityTaskTimedOutEventAttributes(); a != nil && a.GetScheduledEventId() == sched.GetEventId() {
			closed = true
		}
		if closed && startedID != 0 {
			out.Seconds = ev.GetEventTime().AsTime().Sub(sched.GetEventTime().AsTime()).Seconds()
			return out, true
		}
	}
	return out, false
}

// Pause sends SIGSTOP: the process hangs as a machine that stalls does (swapping, a frozen
// VM), without dying: no heartbeat, no progress, its connections left open.
func (w *Worker) Pause() { w.signalOnly(syscall.SIGSTOP, "pause") }

// Resume sends SIGCONT to a paused worker: it goes on from where it was stopped.
func (w *Worker) Resume() { w.signalOnly(syscall.SIGCONT, "resume") }

// signalOnly sends sig and notes it in the log as "--- harness: <word> <identity> (SIG...)".
func (w *Worker) signalOnly(sig syscall.Signal, word string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil {
		return
	}
	pid := w.cmd.Process.Pid
	_ = syscall.Kill(pid, sig)
	if f, err := os.OpenFile(w.LogPath, os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		fmt.Fprintf(f, "--- harness: %s %s (%s, pid %d) %s\n", word, w.Identity, sig, pid, time.Now().Format(time.RFC3339Nano))
		f.Close()
	}
}
