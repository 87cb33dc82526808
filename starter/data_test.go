package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/space-sft/space/internal/stack/stacktest"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
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

	dups := filepath.Join(dir, "dups.jsonl")
	if err := os.WriteFile(dups, []byte(content+content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmdData(context.Background(), []string{"put", dups}); err == nil || !strings.Contains(err.Error(), `"allow_duplicates": true`) {
		t.Errorf("put of duplicates: %v", err)
	}
	if out := string(capture(t, cmdData, "put", dups, "--allow-duplicates")); !strings.Contains(out, "4 pairs") {
		t.Errorf("put --allow-duplicates printed:\n%s", out)
	}
}

// A local path given as data or test_data (`space run --data ./pairs.jsonl`, or in a spec
// file) is checked and uploaded as `space data put` would, and the run gets the key.
func TestRunUploadsLocalData(t *testing.T) {
	st := stacktest.StartS3(t)
	ctx := context.Background()
	dir := t.TempDir()
	train := filepath.Join(dir, "train.jsonl")
	dup := `{"instruction": "2+2?", "output": "4"}` + "\n" + `{"instruction": "2+2?", "output": "4"}` + "\n"
	if err := os.WriteFile(train, []byte(dup), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := workflows.DefaultSpec()
	spec.Name, spec.Rounds, spec.Data, spec.TestData = "local", 1, train, "data/held-out.jsonl"
	err := uploadLocalData(ctx, &spec, st.StorageConfig())
	if err == nil || !strings.Contains(err.Error(), "data: dataset "+train+" line 2: duplicate of line 1") ||
		!strings.Contains(err.Error(), "allow_duplicates") || !strings.Contains(err.Error(), "nothing was uploaded") {
		t.Fatalf("a file with duplicates: %v", err)
	}

	spec.AllowDuplicates = true
	var buf strings.Builder
	stdout = &buf
	defer func() { stdout = os.Stdout }()
	if err := uploadLocalData(ctx, &spec, st.StorageConfig()); err != nil {
		t.Fatal(err)
	}
	if spec.Data != "data/train.jsonl" || spec.TestData != "data/held-out.jsonl" {
		t.Fatalf("spec now has data %q test_data %q", spec.Data, spec.TestData)
	}
	if out := buf.String(); !strings.Contains(out, "uploaded "+train+": 2 pairs") || !strings.Contains(out, storage.SHA256Hex([]byte(dup))) || !strings.Contains(out, "data: data/train.jsonl") {
		t.Errorf("printed:\n%s", out)
	}
	store, err := storage.New(ctx, st.StorageConfig())
	if err != nil {
		t.Fatal(err)
	}
	if b, err := store.Get(ctx, "data/train.jsonl", storage.SHA256Hex([]byte(dup))); err != nil || string(b) != dup {
		t.Fatalf("uploaded object: %q %v", b, err)
	}

	// Two local files of the same name would land on one key: refused before any upload.
	other := filepath.Join(t.TempDir(), "train.jsonl")
	if err := os.WriteFile(other, []byte(`{"text": "a"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec.Data, spec.TestData = train, other
	if err := uploadLocalData(ctx, &spec, st.StorageConfig()); err == nil || !strings.Contains(err.Error(), "would both be uploaded to data/train.jsonl") {
		t.Fatalf("same names: %v", err)
	}
}
