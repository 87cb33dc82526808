// Package model is the learning core of the SPACE self-play fine-tuning project: a small
// GPT written with gorgonia and trained on the CPU, the losses of SPACE and its baselines,
// an optimizer whose state can be checkpointed, a resumable trainer, safetensors
// checkpoints and sampling. It knows nothing about Temporal or S3.
//
// # What is where
//
//   - tokenizer.go: byte-level tokenizer (ids 0..255 are bytes; BOS, EOS, PAD, SEP), the
//     Sequence type, the length policy (GPT.CheckSequence) and InputError.
//   - config.go, gpt.go: Config, the GPT, its parameter layout and GPT-2 initialization.
//   - ops.go: fused gorgonia ops with hand-written backward passes: embedding, LayerNorm,
//     linear layers (x@W+b), GELU, causal multi-head attention on packed qkv, and token log-probs
//     (fused log-softmax and gather, backward softmax - onehot).
//   - graph.go: builds the model graph (nanoGPT's structure) for one (rows, positions)
//     shape; matrix multiplies are the fused linear op (BLAS gemm, two halves side by side).
//   - blasops.go: the gemm helper, the fixed two-way split, the ops' reusable buffers.
//   - logprob.go: GPT.LogProbs, a forward-only graph cached per shape.
//   - loss.go: LossConfig and the losses (sft, space, spin, sipo, ssimpo) as scalar float64
//     reference functions; the training graph's loss op calls the same code.
//   - optim.go: RMSProp and Adam over the parameter tensors, the warm-up/decay schedule,
//     global-norm clipping.
//   - train.go: Trainer (data order, micro-batches, non-finite checks, fingerprints).
//   - checkpoint.go: safetensors files for models and trainers (Save, Load, ResumeTrainer).
//   - sample.go: KV-cache batched sampling (GPT.Generate).
//   - gelu32.go, internal/vec: GELU for float32 models, in float32 (tanh by a rational
//     approximation, exactly +-1 past its clamp): AVX2 assembly on amd64 and a Go loop that
//     gives the same bits (no FMA; checked by TestGelu32AssemblyMatchesGo).
//
// # Policies
//
// Sequence length: a sequence is prompt (BOS text SEP) + response (text EOS); its length
// len(prompt)+len(response) must be at most Config.Context. Longer inputs are an
// *InputError naming the limit, never silently truncated. Graphs use T positions, the
// longest length minus one (the last token is only a target) rounded up to a multiple of 8;
// padding rows and positions do not change any result (causal attention, row-wise ops).
//
// Text: prompts and responses must be valid UTF-8 and responses non-empty (*InputError
// otherwise). Decode returns the bytes a model produced even if they are not valid UTF-8.
//
// Log-probs: log p(y|x) is the sum over the response tokens, EOS included; prompt and
// padding are masked out. The SFT loss is the token mean per sequence, -log p(y|x)/|y|,
// averaged over examples; S-SimPO also normalizes by |y|. SPACE, SPIN and S-IPO use the
// sequence sums. The batch loss is the mean over the examples of the batch. SPACE has no
// beta (Beta 0 or 1 both mean scale 1, the paper's loss); the pairwise methods average
// their loss over the Mu synthetic responses of an example.
//
// Determinism: initialization is drawn from PCG(Config.Seed); the data order of epoch e
// is the permutation drawn from PCG(TrainConfig.Seed, e), so the batch of a step depends
// only on the step number. The same seeds and binary give bit-identical weights, and a
// trainer resumed from a checkpoint continues bit-identically to an uninterrupted run
// (checkpoints hold weights, optimizer moments, step and fingerprints of the data and
// configuration). Saving the same state twice gives byte-identical files.
//
// Precision: float32 by default; float64 (Config.DType) is used for gradient checks.
// GELU is evaluated in the model's dtype (float64 models use math.Exp for its tanh).
// The row-wise reductions of the fused ops (softmax and log-sum-exp normalizers, LayerNorm
// statistics, bias and LayerNorm gain gradients, per-sequence log-probs) accumulate in
// float64; matrix products (attention's included) accumulate in the model's dtype inside
// BLAS. The optimizer keeps its moments and the accumulated micro-batch gradients in float64.
//
// Speed: see ops.go (fused ops, both cores, reused buffers) and bench_test.go (make bench).
// Work split over goroutines is cut the same way on any machine: same bits with one core
// or two (TestSameBitsAnyGOMAXPROCS).
//
// Gorgonia notes: graphs are built once per shape and reused; inputs that are not weights
// (token ids, targets, masks, opponent log-probs) reach the fused ops through a per-graph
// state that is refilled before each run. Gradients are symbolic (G.Grad) and read from the
// gradient nodes after each run, so nothing accumulates inside gorgonia between runs (checked
// by TestGradientsFiniteDifference). gorgonia's solvers are not used.
package model
