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
//     (read and write; tokenizer_config.json and special_tokens_map.json written beside), a
//     model directory's tokenizer files read as one (ReadHFTokenizerFiles) and written as
//     bytes (HFFiles), the byte tokenizer included.
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
//   - loss.go: LossConfig and the losses (sft, space, spin, sipo, ssimpo, psft) as scalar float64
//     reference functions; the training graph's loss op calls the same code.
//   - optim.go: RMSProp and Adam over the parameter tensors (moments in the model's dtype),
//     the warm-up/decay schedule, global-norm clipping.
//   - train.go: Trainer (data order, micro-batches, non-finite checks, fingerprints).
//   - outer.go: data-parallel training over workers (DiLoCo): OuterConfig (train_workers,
//     local_steps, outer_lr, outer_momentum), the Nesterov outer step (OuterUpdate,
//     OuterStep), its state (OuterState), Trainer.SetWeights.
//   - checkpoint.go: safetensors files for models and trainers (Save, Load, ResumeTrainer;
//     trainer format 2: moments in the model's dtype; format 1 is refused with the reason).
//   - sample.go: KV-cache batched sampling (GPT.Generate; GPT.GenerateStream reports each
//     token as it is sampled).
//   - hf.go: Hugging Face GPT-2 checkpoints (ImportHF, ExportHF); testdata/hf holds real
//     transformers-saved fixtures.
//   - exp32.go, internal/vec: exp for the float32 softmaxes (Cephes' expf in float32), AVX2
//     assembly on amd64 and a Go loop with the same bits (TestExp32AssemblyMatchesGo).
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
// exactly {"kind":"byte"}, so byte-model checkpoints are unchanged. In Hugging Face's files
// (HFFiles, ReadHFTokenizerFiles) the byte tokenizer is a byte-level BPE without merges:
// ids 0..255 the byte tokens, 256..259 "<|bos|>", "<|eos|>", "<|pad|>", "<|sep|>"
// (ByteSpecials), so transformers encodes text to the same ids (text that spells a special's
// name aside: Hugging Face matches added tokens in text, Encode does not).
//
// Text: prompts and responses must be valid UTF-8 and responses non-empty (*InputError
// otherwise). Decode returns the bytes a model produced even if they are not valid UTF-8.
//
// Log-probs: log p(y|x) is the sum over the response tokens, EOS included; prompt and
// padding are masked out. The SFT loss is maximum likelihood: the batch's summed
// -log p(y|x) over its response tokens (the whole optimizer batch's, whatever the
// micro-batches), as TRL's SFT trainer; SFTNorm "sequence" keeps the token mean per
// sequence of older builds, -log p(y|x)/|y| averaged over examples, whose optimum favours
// short responses. S-SimPO also normalizes by |y|. SPACE, SPIN and S-IPO use the
// sequence sums; their batch loss is the mean over the examples of the batch. SPACE has no
// beta (Beta 0 or 1 both mean scale 1, the paper's loss); the pairwise methods average
// their loss over the Mu synthetic responses of an example.
//
// Determinism: initialization is drawn from PCG(Config.Seed); the data order of epoch e
// is the permutation drawn from PCG(TrainConfig.Seed, e), so the batch of a step depends
// only on the step number. The same seeds and binary give bit-identical weights, and a
// trainer resumed from a checkpoint continues bit-identically to an uninterrupted run
// (checkpoints hold weights, optimizer moments, step, the per-step history (Trainer.History:
// loss, gradient norm, learning rate, rewards) and fingerprints of the data and
// configuration). Saving the same state twice gives byte-identical files.
//
// Precision: float32 by default; float64 (Config.DType) is used for gradient checks.
// GELU is evaluated in the model's dtype (float64 models use math.Exp for its tanh), and so
// are the exps of the softmaxes (attention, and the log-softmax over the vocabulary: exp32.go
// for float32 models). The row-wise reductions of the fused ops (softmax and log-sum-exp
// normalizers, LayerNorm statistics, bias and LayerNorm gain gradients, per-sequence
// log-probs) accumulate in float64; matrix products (attention's included) accumulate in the
// model's dtype inside BLAS. The gradients and the optimizer's moments are in the model's
// dtype too (float32: 4 bytes a parameter each; TestFloat32StateCurve compares training
// curves with float64 state), each update computed in float64 and rounded once.
//
// Memory: a training graph keeps what its backward needs and no more: the GELU tanh and the
// attention probabilities are computed again in the backward, the log-softmax's gradient is
// written over the logits, a tied wte has one gradient tensor, and a step of one micro-batch
// updates from the graph's gradient tensors directly (BenchmarkGPT2Small reports bytes per
// parameter).
//
// Speed: see ops.go (fused ops, both cores, reused buffers) and bench_test.go (make bench).
// Work split over goroutines is cut the same way on any machine: same bits with one core
// or two (TestSameBitsAnyGOMAXPROCS).
//
// # Hugging Face GPT-2 checkpoints
//
// ImportHF reads a GPT-2 saved by transformers (save_pretrained of GPT2LMHeadModel or
// GPT2Model) from any fs.FS (ImportHFDir for a directory; an fstest.MapFS of objects fetched
// from S3 works the same): config.json, then model.safetensors or model.safetensors.index.json
// and its shards, F32, F16 or BF16 tensors (converted exactly; F16ToFloat32, BF16ToFloat32).
// Both key layouts are read: GPT2LMHeadModel's "transformer.h.0.ln_1.weight", ... and
// GPT2Model's "h.0.ln_1.weight", .... The mapping is one to one, no transpose:
//
//	wte.weight [V,D] -> wte            wpe.weight [n_positions,D] -> wpe (first Context rows)
//	h.N.ln_1.weight/bias -> hN.ln1.g/b h.N.attn.c_attn.weight [D,3D] / bias -> hN.attn.wqkv / bqkv
//	h.N.attn.c_proj.weight [D,D] / bias -> hN.attn.wo / bo   h.N.ln_2.* -> hN.ln2.g/b
//	h.N.mlp.c_fc.weight [D,4D] / bias -> hN.mlp.wfc / bfc    h.N.mlp.c_proj.weight [4D,D] / bias -> hN.mlp.wproj / bproj
//	ln_f.weight/bias -> lnf.g/b        lm_head.weight [V,D] -> lm_head [D,V] (transposed; untied only)
//
// (HF's Conv1D stores its weight [in, out] and computes x @ W + b, this package's layout;
// c_attn's columns are [q | k | v] and head h uses columns h*hd:(h+1)*hd of each, as here.)
// The attn.bias / attn.masked_bias mask buffers of old checkpoints are ignored. A tied model
// (tie_word_embeddings, default true) has no lm_head.weight, or one equal to wte.weight; an
// untied one (tie_word_embeddings false) needs lm_head.weight and imports with
// TiedEmbeddings false. HFImportOptions.Context below n_positions keeps the first Context
// rows of wpe: positions 0..Context-1 compute exactly as in the full model, and the length
// policy rejects longer sequences. Everything the model cannot compute exactly is an
// *InputError naming the file and field or tensors and the fix, and nothing is loaded in
// part: model_type other than "gpt2", activation other than the tanh GELU ("gelu_new",
// "gelu_pytorch_tanh"), layer_norm_epsilon other than 1e-5, n_inner other than 4*n_embd,
// scale_attn_weights false, scale_attn_by_inverse_layer_idx or add_cross_attention true, an
// lm_head.weight that differs from wte in a tied model, missing tensors (listed), unexpected
// tensors (listed), shape mismatches, dtypes other than F32/F16/BF16/F64, truncated files,
// and index entries naming missing shards or tensors.
//
// The result, an HFCheckpoint, holds the Config, the Params in this package's layout and the
// raw tokenizer files (vocab.json, merges.txt, tokenizer.json, tokenizer_config.json,
// special_tokens_map.json); HFCheckpoint.Tokenizer builds the *Tokenizer from them
// (ReadHFTokenizerFiles) and HFCheckpoint.Model(tok) makes the GPT.
//
// ExportHF writes what transformers 4.36's save_pretrained writes for a GPT2LMHeadModel,
// through a callback per file (ExportHFDir for a directory): config.json (the GPT2Config
// fields, sorted and indented as transformers writes them; n_positions = n_ctx = Context;
// bos/eos ids from HFExportOptions, 50256 for GPT-2's vocabulary, BOS/EOS for the byte
// tokenizer), generation_config.json, and model.safetensors with F32 tensors named
// transformer.*, sorted, metadata {"format":"pt"}, no mask buffers and, when tied, no
// lm_head.weight (safetensors saving drops shared tensors). For the real fixture of
// testdata/hf the export is byte-identical to transformers' file. float64 models are rounded
// to float32 on export.
//
// Gorgonia notes: graphs are built once per shape and reused; inputs that are not weights
// (token ids, targets, masks, opponent log-probs) reach the fused ops through a per-graph
// state that is refilled before each run. Gradients are symbolic (G.Grad) and read from the
// gradient nodes after each run, so nothing accumulates inside gorgonia between runs (checked
// by TestGradientsFiniteDifference). gorgonia's solvers are not used.
package model
