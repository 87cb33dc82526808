package compare

import (
	"flag"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/space-sft/space/activities"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

// `--arms sft-norm` is the side-by-side of the two SFT losses: SFT(n) and SFT(4n) with
// each normalisation, valid, the children carrying their arm's sft_norm.
func TestSFTNormArms(t *testing.T) {
	for _, quick := range []bool{false, true} {
		fs := flag.NewFlagSet("compare", flag.ContinueOnError)
		chosen := SpecFlags(fs)
		args := []string{"--task", "markov", "--arms", "sft-norm"}
		if quick {
			args = append(args, "--quick")
		}
		require.NoError(t, fs.Parse(args))
		s, err := chosen()
		require.NoError(t, err)
		s = s.Defaults()
		require.NoError(t, s.Validate())
		want := "cmp-sftnorm-markov"
		if quick {
			want = "quick-sftnorm-markov"
		}
		require.Equal(t, want, s.Name)
		norms := map[string]model.SFTNorm{}
		for _, a := range s.Arms {
			require.Equal(t, "sft", a.Method)
			c := s.child(a, a.Grid()[0], s.Seeds[0], false, 0, "b")
			require.Equal(t, a.SFTNorm, c.SFTNorm, "arm %s", a.Name)
			require.Equal(t, a.DataMult*s.N, c.N)
			norms[a.Name] = c.SFTNorm
		}
		require.Equal(t, map[string]model.SFTNorm{"sft-n": "token", "sft-n-seq": "sequence", "sft-4n": "token", "sft-4n-seq": "sequence"}, norms)
		if !quick {
			require.Len(t, s.Arms[0].Grid(), len(DefaultArms()[0].Grid()), "the same search budget as the paper's arms")
		}
	}
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	chosen := SpecFlags(fs)
	require.NoError(t, fs.Parse([]string{"--arms", "sft-mean"}))
	_, err := chosen()
	require.ErrorContains(t, err, `--arms "sft-mean"`)

	// sft_norm belongs to sft: on another arm the child spec's check refuses it
	s := Spec{Name: "c", Task: "markov", Arms: []Arm{{Name: "space", Method: "space", LRs: []float64{1e-3}, SFTNorm: model.SFTNormSequence}}}.Defaults()
	require.ErrorContains(t, s.Validate(), "sft_norm: is set for method")
}

// A comparison recorded before the "sft-norm" marker keeps the sequence mean for its sft
// arms' children (and only theirs); a new one trains them with maximum likelihood.
func TestCompareSFTNormOfOldHistories(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		var ts testsuite.WorkflowTestSuite
		env := ts.NewTestWorkflowEnvironment()
		var a *Activities
		env.OnActivity(a.PretrainBase, mock.Anything, mock.Anything).Return(activities.TrainOutput{Model: storage.Ref{Key: "runs/q/base/model.safetensors", SHA256: strings.Repeat("0", 64)}}, nil)
		env.OnActivity(a.CompareReport, mock.Anything, mock.Anything).Return(ReportOutput{}, nil)
		var mu sync.Mutex
		got := map[string]model.SFTNorm{}
		env.RegisterWorkflow(workflows.SelfPlay)
		env.OnWorkflow(workflows.SelfPlay, mock.Anything, mock.Anything, mock.Anything).Return(
			func(_ workflow.Context, spec workflows.RunSpec, _ *workflows.Carry) (workflows.RunResult, error) {
				mu.Lock()
				defer mu.Unlock()
				got[string(spec.Method)+":"+spec.Name] = spec.SFTNorm
				return workflows.RunResult{Status: workflows.StatusCompleted}, nil
			})
		if legacy {
			env.OnGetVersion(versionFidelity2, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		}
		env.ExecuteWorkflow(Compare, Quick("q", "markov"))
		require.True(t, env.IsWorkflowCompleted())
		require.NoError(t, env.GetWorkflowError())
		require.Len(t, got, len(QuickArms()))
		for k, n := range got {
			want := model.SFTNorm("")
			if legacy && strings.HasPrefix(k, "sft:") {
				want = model.SFTNormSequence
			}
			require.Equal(t, want, n, "legacy %v: child %s", legacy, k)
		}
	}
}

// The side-by-side's report pairs each maximum-likelihood sft arm with its sequence-mean
// twin (same data, rounds and epochs) and gives their paired differences, the length of
// the samples included; arms that differ otherwise are not paired.
func TestSFTNormReportPairs(t *testing.T) {
	spec := Spec{Name: "p", Task: "markov", Arms: SFTNormArms(true)}.Defaults()
	spec.Arms = append(spec.Arms, Arm{Name: "sft-n-seq-long", Method: "sft", DataMult: 1, LRs: []float64{1e-3}, Epochs: 4, SFTNorm: model.SFTNormSequence})
	in := reportInput(Result{Spec: spec})
	require.Equal(t, [][2]string{{"sft-n", "sft-n-seq"}, {"sft-4n", "sft-4n-seq"}}, in.SFTNormPairs)
	for _, a := range in.Arms {
		if a.Name == "sft-4n" {
			require.Equal(t, 2*(4*128/16), a.StepsPerRound, "SFT(4n) makes 4 times SFT(n)'s steps")
			require.Contains(t, a.Description, "sft_norm token")
		}
	}
	in.Seeds, in.Rounds = []uint64{1, 2, 3}, 2
	for i, a := range in.Arms {
		in.Arms[i].Rounds = 2
		in.Choices = append(in.Choices, ReportChoice{Arm: a.Name, Round: 2, Found: true})
		for i, s := range in.Seeds {
			chars := 4.7 + 0.1*float64(i)
			if strings.HasSuffix(a.Name, "-seq") {
				chars -= 1.5
			}
			in.Final = append(in.Final, ReportRun{Arm: a.Name, Seed: s, Status: "completed", Rounds: []workflows.RoundResult{
				{Round: 0, Metrics: map[string]float64{"kl": 1, "sample_chars": 4, "data_chars": 4.7}},
				{Round: 1, Metrics: map[string]float64{"kl": 0.5, "sample_chars": chars, "data_chars": 4.7}},
				{Round: 2, Metrics: map[string]float64{"kl": 0.5, "sample_chars": chars, "data_chars": 4.7}},
			}})
		}
	}
	md, _ := RenderMarkdown(in)
	require.Contains(t, md, "## Paired differences: sft-4n (sft_norm token, maximum likelihood) minus sft-4n-seq (sequence mean)")
	require.Contains(t, md, "| sft-4n-seq | sample_chars | last | r2 vs r2 | 128 / 128 | +1.5 |")
	require.Contains(t, md, "### data_chars")
	require.NotContains(t, md, "sft-n-seq-long (sequence mean)")
}
