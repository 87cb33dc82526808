package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/storage"
)

// space data put checks the file as a dataset before it uploads anything, records its
// sha256, and get/ls give it back.
func TestDataPut(t *testing.T) {
	st := stacktest.StartS3(t)
	for _, kv := range st.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "pairs.jsonl")
	content := `{"prompt": "2+2?", "response": "4"}` + "\n" + `{"prompt": "3+3?", "response": "6"}` + "\n"
	if err := os.WriteFile(good, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	out := string(capture(t, cmdData, "put", good))
	if !strings.Contains(out, "2 pairs") || !strings.Contains(out, "data/pairs.jsonl") || !strings.Contains(out, storage.SHA256Hex([]byte(content))) {
		t.Errorf("put printed:\n%s", out)
	}
	if out := string(capture(t, cmdData, "ls")); !strings.Contains(out, "data/pairs.jsonl") {
		t.Errorf("ls printed:\n%s", out)
	}
	back := filepath.Join(dir, "back.jsonl")
	capture(t, cmdData, "get", "data/pairs.jsonl", back)
	if b, _ := os.ReadFile(back); string(b) != content {
		t.Errorf("get gave %q", b)
	}

	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte(content+`{"prompt": "x"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := cmdData(context.Background(), []string{"put", bad, "data/bad.jsonl"})
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "nothing was uploaded") {
		t.Errorf("put of a bad file: %v", err)
	}
	store, err := storage.New(context.Background(), st.StorageConfig())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := store.Exists(context.Background(), "data/bad.jsonl"); ok || err != nil {
		t.Errorf("a bad file was uploaded (%v)", err)
	}
}
