// Package model is the learning core of the SPACE self-play fine-tuning project: a small
// GPT written with gorgonia and trained on the CPU, the losses of SPACE and its baselines,
// an optimizer whose state can be checkpointed, a resumable trainer, safetensors
// checkpoints and sampling. It knows nothing about Temporal or S3.
//
// # What is where
//
//   - tokenizer.go: the Tokenizer (kinds "byte": ids 0..255 are bytes, then BOS, EOS, PAD,
//     SEP; and "bpe"), framing (EncodePrompt, EncodeResponse), the Sequence type, the length
//     policy (GPT.CheckSequence) and InputError.
//   - bpe.go, bpe_pretok.go: GPT-2's byte-level BPE: its pre-tokenizer regex as a hand-written
//     splitter, bytes_to_unicode, the rank-based merge loop, special tokens and their roles.
//   - hf_tokenizer.go: GPT-2's vocab.json + merges.txt and Hugging Face's tokenizer.json
//     (read and write; tokenizer_config.json and special_tokens_map.json written beside).
//   - bpe_train.go: TrainBPE, a deterministic byte-level BPE trainer.
//   - testdata/gpt2tok: GPT-2's vocabulary and 2575 reference encodings (js-tiktoken).
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
// Tokenizers and framing: a sequence is prompt (BOS text SEP) + response (text EOS), each
// special only where the tokenizer has one (Tokenizer.SpecialIDs; -1 = none). The byte
// tokenizer has all four. A GPT-2 BPE tokenizer (GPT2Specials) has only "<|endoftext|>",
// used as both BOS and EOS: prompt = <|endoftext|> + tokens(prompt), response =
// tokens(response) + <|endoftext|>. The leading <|endoftext|> is what GPT-2 saw before
// every document in pre-training (it separated documents), so a prompt starts the way a
// document did; it also keeps an empty prompt non-empty (generation needs a token to start
// from). There is no SEP: the response tokens follow the prompt tokens directly (prompt and
// response are tokenized separately, so the join is a token boundary); put a separator such
// as "\n" in the prompt text if the task needs one. Generation stops at the tokenizer's EOS
// (none: at MaxNewTokens), padding positions hold its PAD, else EOS, else id 0 (their weight
// is 0, so the id does not matter). Text is encoded with Encode, where the text of a
// special token ("<|endoftext|>") is ordinary text: prompts and responses cannot inject
// special ids (EncodeSpecial recognizes them, for trusted text). Decode drops specials and
// stops at EOS; DecodeAll keeps every token's text. A BPE tokenizer is saved whole (vocab,
// merges, specials, roles) in the checkpoint's tokenizer metadata; the byte tokenizer's is
// exactly {"kind":"byte"}, so byte-model checkpoints are unchanged.
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
