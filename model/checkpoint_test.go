package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
)

func TestCheckpointRoundTrip(t *testing.T) {
	for _, dt := range []string{"float32", "float64"} {
		for _, tied := range []bool{true, false} {
			m, err := New(Config{Shape: Shape{DModel: 8, Layers: 2, Heads: 2, Context: 8}, TiedEmbeddings: tied, Seed: 3, DType: dt}, nil)
			if err != nil {
				t.Fatal(err)
			}
			a := saveBytes(t, func(w *bytes.Buffer) error { return m.Save(w) })
			if b := saveBytes(t, func(w *bytes.Buffer) error { return m.Clone().Save(w) }); !bytes.Equal(a, b) {
				t.Fatal("saving the same weights twice gave different bytes")
			}
			l, err := Load(bytes.NewReader(a))
			if err != nil {
				t.Fatal(err)
			}
			if l.Config != m.Config || l.NumParams() != m.NumParams() || l.Tok.Kind != "byte" {
				t.Fatalf("loaded config %+v, want %+v", l.Config, m.Config)
			}
			if b := saveBytes(t, func(w *bytes.Buffer) error { return l.Save(w) }); !bytes.Equal(a, b) {
				t.Fatal("load+save changed the file")
			}
		}
	}
}

func TestCheckpointFormat(t *testing.T) {
	m, _ := New(Config{Shape: Shape{DModel: 8, Layers: 1, Heads: 2, Context: 8}, TiedEmbeddings: true}, nil)
	b := saveBytes(t, func(w *bytes.Buffer) error { return m.Save(w) })
	n := binary.LittleEndian.Uint64(b[:8])
	if n%8 != 0 {
		t.Fatalf("header length %d not 8-aligned", n)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	json.Unmarshal(h["__metadata__"], &meta)
	for _, k := range []string{"format", "kind", "config", "tokenizer", "sha256"} {
		if meta[k] == "" {
			t.Errorf("metadata lacks %q", k)
		}
	}
	var wte stEntry
	json.Unmarshal(h["wte"], &wte)
	if wte.DType != "F32" || wte.Shape[0] != ByteVocab || wte.Shape[1] != 8 || wte.Offsets[0] != 0 || wte.Offsets[1] != ByteVocab*8*4 {
		t.Fatalf("wte entry %+v", wte)
	}
	if _, ok := h["lm_head"]; ok {
		t.Fatal("tied model saved an lm_head")
	}
}

func TestCheckpointCorruption(t *testing.T) {
	m, _ := New(Config{Shape: Shape{DModel: 8, Layers: 1, Heads: 2, Context: 8}}, nil)
	b := saveBytes(t, func(w *bytes.Buffer) error { return m.Save(w) })
	n := binary.LittleEndian.Uint64(b[:8])
	var h map[string]json.RawMessage
	json.Unmarshal(b[8:8+n], &h)
	var e stEntry
	json.Unmarshal(h["h0.mlp.wfc"], &e)
	bad := append([]byte(nil), b...)
	bad[8+int64(n)+e.Offsets[0]+5] ^= 1
	if _, err := Load(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), `"h0.mlp.wfc" is corrupt`) {
		t.Fatalf("flipped bit: %v", err)
	}
	if _, err := Load(bytes.NewReader(b[:len(b)-10])); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated file: %v", err)
	}
	if _, err := Load(bytes.NewReader([]byte("not a checkpoint at all"))); err == nil {
		t.Fatal("garbage accepted")
	}
	if _, err := ResumeTrainer(bytes.NewReader(b), nil, TrainConfig{}); err == nil || !strings.Contains(err.Error(), "trainer checkpoint") {
		t.Fatalf("resume from a model checkpoint: %v", err)
	}
}
