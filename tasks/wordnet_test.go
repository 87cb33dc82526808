package tasks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/space-sft/space/dataset"
)

// word is the word of a wordnet prompt ("define: black out (verb)" -> "black out").
func word(prompt string) string {
	w := strings.TrimPrefix(prompt, "define: ")
	return w[:strings.LastIndex(w, " (")]
}

func TestWordNetSplitsAndPairs(t *testing.T) {
	reg, err := Get("wordnet")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.(Corpus); !ok {
		t.Fatal("wordnet is not a Corpus")
	}
	if _, ok := reg.(Pretrainer); !ok {
		t.Fatal("wordnet has no pretrain corpus")
	}
	w := NewWordNet("") // the committed sample, whatever the machine has installed
	info, err := w.Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", info.Source)
	if !strings.Contains(info.Source, "committed sample") || info.Train < 300 || info.Val < 40 || info.Test < 40 || info.Pretrain < 400 {
		t.Fatalf("sample: %+v", info)
	}
	all := w.Generate(1, info.Train+10) // more than there are: all of them
	if len(all) != info.Train {
		t.Fatalf("Generate(n > train) gave %d pairs, want the %d train pairs", len(all), info.Train)
	}
	first := w.Generate(1, 64)
	for i, p := range first {
		if p != all[i] {
			t.Fatalf("pair %d: the first 64 of a seed differ from its first %d", i, len(all))
		}
	}
	same := 0
	for i, p := range w.Generate(2, 64) {
		if p == first[i] {
			same++
		}
	}
	if same > 8 {
		t.Fatalf("seeds 1 and 2 share %d of 64 positions", same)
	}
	trainWords := map[string]bool{}
	for _, p := range all {
		trainWords[word(p.Prompt)] = true
		if n := len(p.Prompt) + len(p.Response) + 3; n > 128 {
			t.Fatalf("pair too long for context 128 (%d): %+v", n, p)
		}
		if w.Score(p.Prompt, p.Response) != 1 {
			t.Fatalf("reference scored 0: %+v", p)
		}
	}
	seen := map[string]string{}
	for _, split := range []string{"val", "test"} {
		held := w.HeldOut(split, 5, 1000)
		if len(held) != map[string]int{"val": info.Val, "test": info.Test}[split] {
			t.Fatalf("%s: %d pairs, info says %+v", split, len(held), info)
		}
		for _, p := range held {
			if trainWords[word(p.Prompt)] {
				t.Fatalf("%s word %q is also a train word", split, word(p.Prompt))
			}
			if s, ok := seen[word(p.Prompt)]; ok && s != split {
				t.Fatalf("word %q is in %s and %s", word(p.Prompt), s, split)
			}
			seen[word(p.Prompt)] = split
		}
	}
	// A real entry, wherever the split put it: WordNet's verb "alight", senses in index order.
	var alight []dataset.Pair
	for _, p := range append(append(all, w.HeldOut("val", 1, 1000)...), w.HeldOut("test", 1, 1000)...) {
		if word(p.Prompt) == "alight" {
			alight = append(alight, p)
		}
	}
	want := []dataset.Pair{{Prompt: "define: alight (adjective)", Response: "lighted up by or as by fire or flame"},
		{Prompt: "define: alight (verb)", Response: "to come to rest, settle"}}
	if len(alight) != 2 || !((alight[0] == want[0] && alight[1] == want[1]) || (alight[0] == want[1] && alight[1] == want[0])) {
		t.Fatalf("alight: %+v, want %+v", alight, want)
	}
}

func TestWordNetScore(t *testing.T) {
	w := NewWordNet("")
	for _, c := range []struct {
		prompt, output string
		want           float64
	}{
		{"define: alight (verb)", "to come to rest, settle", 1},
		{"define: alight (verb)", "come down", 1},                           // the second sense counts too
		{"define: alight (verb)", "  Come   DOWN. ", 1},                     // case, spaces, trailing period
		{"define: alight (verb)", "come down slowly", 0},                    // not exactly a gloss
		{"define: alight (verb)", "come, down", 0},                          // punctuation inside counts
		{"define: alight (adjective)", "come down", 0},                      // another part of speech
		{"define: alight (verb)", "", 0},                                    // nothing
		{"define: nosuchword (noun)", "come down", 0},                       // unknown word
		{"define: blackout (noun)", "a momentary loss of consciousness", 1}, // 4th of 5 senses
		// the longest sense is no reference (over 80 bytes) but still a gloss of the word
		{"define: blackout (noun)", "darkness resulting from the extinction of lights (as in a city invisible to enemy aircraft)", 1},
	} {
		if got := w.Score(c.prompt, c.output); got != c.want {
			t.Errorf("Score(%q, %q) = %v, want %v", c.prompt, c.output, got, c.want)
		}
	}
}

func TestWordNetPretrain(t *testing.T) {
	w := NewWordNet("")
	info, err := w.Load()
	if err != nil {
		t.Fatal(err)
	}
	n := 2*info.Pretrain + 7 // two passes and a bit: every pair at least twice
	a, b := w.Pretrain(3, n), w.Pretrain(3, n)
	count := map[dataset.Pair]int{}
	for i, p := range a {
		if p != b[i] {
			t.Fatal("Pretrain is not deterministic")
		}
		count[p]++
		if len(word(p.Prompt)) > w.MaxWord || len(p.Response) > w.MaxGloss {
			t.Fatalf("pair over the limits: %+v", p)
		}
	}
	if len(a) != n || len(count) != info.Pretrain {
		t.Fatalf("%d pairs, %d distinct; want %d, %d", len(a), len(count), n, info.Pretrain)
	}
	for p, c := range count {
		if c < 2 {
			t.Fatalf("%+v drawn %d times in two passes", p, c)
		}
	}
	// GCIDE's entry, not WordNet's: the base learns from the other dictionary.
	if count[dataset.Pair{Prompt: "define: unshut (verb)", Response: "to open, or throw open"}] == 0 {
		t.Fatal("GCIDE's unshut (verb) is not in the pretrain corpus")
	}
	if count[dataset.Pair{Prompt: "define: alight (verb)", Response: "to come to rest, settle"}] != 0 {
		t.Fatal("a WordNet gloss is in the pretrain corpus")
	}
}

func TestWordNetDataFolder(t *testing.T) {
	dir := t.TempDir()
	_, err := NewWordNet(dir).Load()
	if err == nil || !strings.Contains(err.Error(), "make wordnet-data") || !strings.Contains(err.Error(), WordNetDataEnv) {
		t.Fatalf("missing data: %v", err)
	}
	// A folder of the make target's files is the full data (here: the sample's files).
	for _, f := range []string{"wordnet.jsonl", "gcide.jsonl"} {
		data, err := os.ReadFile(filepath.Join("testdata", "wordnet", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(WordNetDataEnv, dir)
	got, err := wordnetDir()
	if err != nil || got != dir {
		t.Fatalf("wordnetDir() = %q, %v; want %s from $%s", got, err, dir, WordNetDataEnv)
	}
	info, err := NewWordNet(got).Load()
	if err != nil || !strings.Contains(info.Source, "full data in "+dir) {
		t.Fatalf("%+v, %v", info, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gcide.jsonl"), []byte("{\"word\": \"x\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewWordNet(dir).Load(); err == nil || !strings.Contains(err.Error(), "gcide.jsonl line 1") {
		t.Fatalf("a bad line: %v", err)
	}
}
