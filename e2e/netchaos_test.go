package e2e

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/space-sft/space/e2e/harness"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

var (
	netE2E   = flag.Bool("e2e.net", false, "run TestNetChaos, the network fault test (make chaos-net)")
	netTable = flag.String("net.table", "", "also write the network fault table (markdown) to this file")
)

// netFault is one fault of the network between the worker and a server, injected through
// toxiproxy when the target activity runs, held for a while, then healed.
type netFault struct {
	name   string // what the table says
	target string // activity type aimed at
	round  int
	hold   time.Duration // how long the network stays broken
	inject func(l links) // breaks the links
	extra  time.Duration // what this fault may cost beyond the chaos bound (a timeout that must fire)
	// mustFail: the hit activity must fail while the fault is held, with this in the message
	// (a timeout that must fire); "" = no requirement.
	mustFail string

	http             bool // the fault is in S3's HTTP answers: some requests must have been hit
	hitRequests      int  // S3 requests failed or corrupted by the HTTP proxy
	injected, landed bool
	hit              harness.Pending
	failedAfter      time.Duration // from injection to the hit activity's first failure (0: none while held)
	failure          string
	outcome          harness.ActivityOutcome
	at               time.Duration
	phase            string
	lost             time.Duration
	how              string
	bound            time.Duration
}

// links are what a fault can break: TCP between the worker and S3 and between the worker and
// Temporal (toxiproxy), and S3's HTTP answers (a reverse proxy behind the S3 link).
type links struct {
	s3, temporal *harness.NetProxy
	http         *harness.S3Faults
}

// TestNetChaos puts a fault-injecting TCP proxy (toxiproxy, in-process, on loopback) between
// the worker process and the S3 gateway and between the worker and Temporal, and breaks
// the links in the ways a network does while a SPACE run trains: latency, a bandwidth cap,
// connections cut in the middle of checkpoint uploads and downloads, reads that stall
// without closing, and a partition longer than the heartbeat timeout. Every round's model
// must equal an undisturbed run's, byte for byte, and every fault must cost at most the
// chaos bound (checkpoint interval + heartbeat timeout + retry backoff + slack) plus the
// timeout that the fault must make fire, counted from the moment the network is healed.
// Run by make chaos-net (-args -e2e.net); about 5 minutes.
func TestNetChaos(t *testing.T) {
	if !*netE2E {
		t.Skip("the network fault test runs with make chaos-net (-args -e2e.net)")
	}
	const rounds, epochs = 8, 2
	e := harness.NewEnv(t)
	harness.WatchLocal(t, e.Processes(), e.Dir, e.Stack.Dir())
	ctx, cancel := timeout(t, 25*time.Minute)
	defer cancel()
	httpf := harness.NewS3Faults(t, e.Stack.S3Endpoint())
	s3p := harness.NewNetProxy(t, "s3", httpf.URL())
	tp := harness.NewNetProxy(t, "temporal", e.Stack.TemporalAddress())
	w := e.NewWorker("net", "--log-level", "debug")
	// A short S3 read timeout, so that a stalled reply fails (and is retried) well inside a
	// fault of a few seconds; the product's default is a minute.
	const readTimeout = 2 * time.Second
	w.Env = []string{"S3_ENDPOINT=" + s3p.URL(), "TEMPORAL_ADDRESS=" + tp.Addr(), "S3_READ_TIMEOUT=" + readTimeout.String()}
	w.Start()

	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	hb := 3 * time.Second
	plan := []netFault{
		{name: "latency 100±50 ms, S3 and Temporal, both ways", target: "Train", round: 1, hold: 4 * time.Second,
			inject: func(l links) {
				for _, p := range []*harness.NetProxy{l.s3, l.temporal} {
					must(p.Both("latency", map[string]any{"latency": 100, "jitter": 50}))
				}
			}},
		{name: "Temporal connections reset as they carry data", target: "Generate", round: 2, hold: 3 * time.Second,
			inject: func(l links) { must(l.temporal.Both("reset_peer", map[string]any{"timeout": 0})) }},
		{name: "bandwidth 64 KB/s to and from S3", target: "Train", round: 2, hold: 6 * time.Second,
			inject: func(l links) { must(l.s3.Both("bandwidth", map[string]any{"rate": 64})) }},
		{name: "S3 connections cut after 128 KB each way (mid-checkpoint)", target: "Train", round: 3, hold: 5 * time.Second,
			inject: func(l links) { must(l.s3.Both("limit_data", map[string]any{"bytes": 128 << 10})) }},
		{name: "S3 replies stall, connections stay open", target: "Train", round: 4, hold: 5 * readTimeout,
			inject: func(l links) {
				_, err := l.s3.Toxic("stall", "downstream", nil)
				must(err)
			}, mustFail: "connection stalled (S3_READ_TIMEOUT)"},
		{name: "partition from S3 and Temporal (black hole)", target: "Train", round: 5, hold: 2*hb + 2*time.Second,
			inject: func(l links) {
				for _, p := range []*harness.NetProxy{l.s3, l.temporal} {
					must(p.Both("timeout", map[string]any{"timeout": 0}))
				}
			}},
		{name: "S3 answers 503 SlowDown to every request", target: "Train", round: 6, hold: 4 * time.Second,
			inject: func(l links) { l.http.Fail(503, "SlowDown") }, http: true},
		{name: "S3 answers 500 InternalError to every request", target: "Train", round: 7, hold: 4 * time.Second,
			inject: func(l links) { l.http.Fail(500, "InternalError") }, http: true},
		{name: "first read of each object corrupted on the way (stored intact)", target: "Evaluate", round: 7, hold: 4 * time.Second,
			inject: func(l links) { l.http.Corrupt() }, http: true},
	}

	ref, want, dur, ckpt := chaosReference(ctx, t, e, w, "net-ref", rounds, epochs)
	var ckptBytes int64
	if objs, err := e.Store.List(ctx, storage.TrainPrefix(ref.Name, 1)); err == nil {
		for _, o := range objs {
			ckptBytes = max(ckptBytes, o.Size)
		}
	}
	t.Logf("undisturbed activity seconds: %v; checkpoint interval %.2fs; trainer checkpoint %d bytes", dur, ckpt.Seconds(), ckptBytes)

	spec := ref
	spec.Name = "net"
	t0 := time.Now()
	run := startInBackground(ctx, e, spec)
	finished := run.finished
	rng := newRand(*chaosSeed)
	for i := range plan {
		f := &plan[i]
		aimAt := fault{kind: f.name, target: f.target, round: f.round}
		p, ok := aim(ctx, t, e, spec.Name, &aimAt, rng, dur, finished)
		if !ok {
			continue
		}
		f.injected = true
		f.at = time.Since(t0)
		f.phase = fmt.Sprintf("%s r%d step %d/%d attempt %d", p.Type, p.Progress.Round, p.Progress.Step, p.Progress.Total, p.Attempt)
		f.hit = p
		f.inject(links{s3: s3p, temporal: tp, http: httpf})
		// While the network is broken: the first failure of the hit activity (an attempt
		// failed or timed out), as the server reports it. cur is the activity as it heals.
		var cur *harness.Pending
		for start := time.Now(); time.Since(start) < f.hold; time.Sleep(100 * time.Millisecond) {
			cur = nil
			for _, q := range e.PendingActivities(ctx, spec.Name) {
				if q.RunID == p.RunID && q.ActivityID == p.ActivityID {
					cur = &q
				}
			}
			if cur != nil && f.failedAfter == 0 && (cur.Attempt > p.Attempt || cur.LastFailure != p.LastFailure) {
				f.failedAfter, f.failure = time.Since(start), cur.LastFailure
			}
		}
		s3p.Clear()
		tp.Clear()
		f.hitRequests = httpf.Heal()
		from := time.Now()
		f.bound = ckpt + hb + backoff(p.Attempt+1) + chaosSlack + f.extra
		if cur == nil {
			f.how, f.landed = "completed during the fault", true
		} else {
			f.lost, f.how, f.landed = recovery(ctx, e, spec.Name, *cur, from, finished)
			f.bound = ckpt + hb + backoff(cur.Attempt+1) + chaosSlack + f.extra
		}
		t.Logf("fault %d: %s during %s at %.1fs for %.0fs: recovered %.1fs after healing (%s)", i+1, f.name, f.phase, f.at.Seconds(), f.hold.Seconds(), f.lost.Seconds(), f.how)
	}
	got, runErr := run.wait(ctx)
	if runErr != nil || got.Status != workflows.StatusCompleted {
		t.Logf("worker log:\n%s", tail(w.Log(), 8000))
		t.Fatalf("run under network faults: %v (result %+v)", runErr, got)
	}
	retries := 0
	for _, a := range e.ActivityTimes(ctx, workflows.WorkflowID(spec.Name)) {
		if a.Attempt > 1 {
			retries++
		}
	}
	for i := range plan {
		if f := &plan[i]; f.injected {
			f.outcome, _ = e.Outcome(ctx, workflows.WorkflowID(spec.Name), f.hit.RunID, f.hit.ActivityID)
		}
	}
	// Corrupted reads: Get reads again at once (silently); GetStream has fed the bytes to the
	// decoder, so its activity fails as "in transit" and is retried.
	inTransit := strings.Count(w.Log(), "integrity check failed in transit")
	for i := range plan {
		if f := &plan[i]; f.injected && strings.Contains(f.name, "corrupted") {
			f.how = fmt.Sprintf("%d corrupted reads caught by the sha256 check: %d failed an activity as in transit (retried), %d read again at once",
				f.hitRequests, inTransit, f.hitRequests-inTransit)
		}
	}
	if strings.Contains(w.Log(), "integrity check failed:") {
		t.Error("an integrity failure was taken for a corrupt stored object (see the worker log)")
	}
	if *netTable != "" { // the worker's log beside the table, to read what each fault did
		if err := os.WriteFile(*netTable+".worker.log", []byte(w.Log()), 0o644); err != nil {
			t.Error(err)
		}
	}
	table := netTableMarkdown(plan, got, want, dur, retries, time.Since(t0))
	t.Logf("network fault table:\n%s", table)
	appendNetTable(t, table)
	sameModels(t, got, want)
	for _, f := range plan {
		switch {
		case !f.injected:
			t.Errorf("%s: never injected (the run went past %s round %d)", f.name, f.target, f.round)
		case f.how == "timed out":
			t.Errorf("%s during %s: no progress after healing", f.name, f.phase)
		case f.http && f.hitRequests == 0:
			t.Errorf("%s during %s: no S3 request was hit", f.name, f.phase)
		case f.mustFail != "" && !strings.Contains(f.failure, f.mustFail):
			t.Errorf("%s during %s: the activity did not fail with %q while the fault was held (first failure after %.1fs: %q)",
				f.name, f.phase, f.mustFail, f.failedAfter.Seconds(), f.failure)
		case f.lost > f.bound:
			t.Errorf("%s during %s lost %.1fs after healing, more than the bound %.1fs", f.name, f.phase, f.lost.Seconds(), f.bound.Seconds())
		}
	}
}

func netTableMarkdown(plan []netFault, got, want workflows.RunResult, dur map[string]float64, retries int, total time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Network fault run (make chaos-net), seed %d, %d rounds, %.0f s in all, %d activity retries in the history.\n\n", *chaosSeed, len(got.Rounds)-1, total.Seconds(), retries)
	b.WriteString("| # | fault | at (s) | phase hit | held (s) | activity took (s) | undisturbed (s) | attempts | S3 requests hit | first failure while held | seconds lost after healing | bound (s) | recovery |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, f := range plan {
		if !f.injected {
			fmt.Fprintf(&b, "| %d | %s | - | %s round %d (missed) | - | - | - | - | - | - | - | - | - |\n", i+1, f.name, f.target, f.round)
			continue
		}
		failure := "none"
		if f.failedAfter > 0 {
			failure = fmt.Sprintf("after %.1fs: %s", f.failedAfter.Seconds(), shortFailure(f.failure))
		}
		hit := "-"
		if f.http {
			hit = fmt.Sprint(f.hitRequests)
		}
		fmt.Fprintf(&b, "| %d | %s | %.1f | %s | %.1f | %.1f | %.1f | %d | %s | %s | %.1f | %.1f | %s |\n", i+1, f.name, f.at.Seconds(), f.phase, f.hold.Seconds(),
			f.outcome.Seconds, dur[f.hit.Type], f.outcome.Attempt, hit, failure, f.lost.Seconds(), f.bound.Seconds(), f.how)
	}
	b.WriteString(shaTable(got, want, "faults"))
	return b.String()
}

var tableOnce sync.Once

// appendNetTable adds a test's section to the -net.table file (make chaos-net's table): the
// first section of the test binary starts the file afresh.
func appendNetTable(t *testing.T, section string) {
	if *netTable == "" {
		return
	}
	mode := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	tableOnce.Do(func() { mode |= os.O_TRUNC })
	f, err := os.OpenFile(*netTable, mode, 0o644)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "### %s\n\n%s\n", t.Name(), section); err != nil {
		t.Error(err)
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x7e7)) }

// shortFailure keeps what a table row needs of a failure message: what failed (up to the
// first ": storage: ") and how (the end of the SDK's error chain), without table pipes.
func shortFailure(msg string) string {
	if msg == "" {
		return "(attempt retried)"
	}
	msg = strings.ReplaceAll(msg, "|", "/")
	if len(msg) <= 120 {
		return msg
	}
	head := msg
	if i := strings.Index(msg, ": storage: "); i > 0 {
		head = msg[:i]
	}
	if len(head) > 70 {
		head = head[:70]
	}
	return head + " ... " + strings.TrimRight(msg[len(msg)-50:], ")")
}
