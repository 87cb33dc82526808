// Command dictjsonl converts the two dictionaries of the wordnet task (package dict) to JSON
// Lines, one entry (word, part of speech, glosses) a line:
//
//	dictjsonl [-wordnet /usr/share/wordnet] [-gcide /usr/share/dictd/gcide] -out DIR
//
// writes DIR/wordnet.jsonl and DIR/gcide.jsonl from the installed Debian packages
// wordnet-base and dict-gcide (`make wordnet-data`: DIR = .data/wordnet). With -sample K it
// first copies, verbatim, the source lines of every word whose dict.WordHash is 0 modulo K
// into -raw (WordNet's index and data files, a dictd database of GCIDE, each source's
// copyright file) and converts that excerpt instead: `make wordnet-sample` regenerates the
// committed sample that way.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/space-sft/space/dataset/dict"
)

func main() {
	wordnet := flag.String("wordnet", "/usr/share/wordnet", "WordNet 3.0 database folder (Debian wordnet-base)")
	gcide := flag.String("gcide", "/usr/share/dictd/gcide", "GCIDE dictd database, without .index/.dict.dz (Debian dict-gcide)")
	out := flag.String("out", "", "folder for wordnet.jsonl and gcide.jsonl")
	sample := flag.Int("sample", 0, "keep only the words whose hash is 0 modulo K, copying their source lines to -raw first")
	raw := flag.String("raw", "", "with -sample: folder for the verbatim excerpt (wordnet/, gcide/)")
	wnCopyright := flag.String("wordnet-copyright", "/usr/share/doc/wordnet-base/copyright", "with -sample: WordNet's license, copied beside its excerpt")
	gcCopyright := flag.String("gcide-copyright", "/usr/share/doc/dict-gcide/copyright", "with -sample: GCIDE's license, copied beside its excerpt")
	flag.Parse()
	if err := run(*wordnet, *gcide, *out, *sample, *raw, *wnCopyright, *gcCopyright); err != nil {
		fmt.Fprintln(os.Stderr, "dictjsonl:", err)
		os.Exit(1)
	}
}

func run(wordnet, gcide, out string, sample int, raw, wnCopyright, gcCopyright string) error {
	if out == "" {
		return fmt.Errorf("-out is required (the folder for wordnet.jsonl and gcide.jsonl)")
	}
	if sample < 0 || (sample > 0) != (raw != "") {
		return fmt.Errorf("-sample K (K >= 1) and -raw DIR go together")
	}
	if sample > 0 {
		keep := func(word string) bool { return dict.WordHash(word)%uint64(sample) == 0 }
		files, err := dict.WordNetExcerpt(os.DirFS(wordnet), keep)
		if err != nil {
			return err
		}
		ix, body, err := dict.GCIDEExcerpt(os.DirFS(filepath.Dir(gcide)), filepath.Base(gcide), keep)
		if err != nil {
			return err
		}
		files["../gcide/gcide.index"], files["../gcide/gcide.dict"] = ix, body
		for src, dst := range map[string]string{wnCopyright: "copyright", gcCopyright: "../gcide/copyright"} {
			if files[dst], err = os.ReadFile(src); err != nil {
				return fmt.Errorf("%w (fix: install the package, or point -wordnet-copyright/-gcide-copyright at its copyright file)", err)
			}
		}
		for name, data := range files {
			path := filepath.Join(raw, "wordnet", name)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				return err
			}
		}
		wordnet, gcide = filepath.Join(raw, "wordnet"), filepath.Join(raw, "gcide", "gcide")
	}
	wn, err := dict.ReadWordNet(os.DirFS(wordnet))
	if err != nil {
		return err
	}
	gc, err := dict.ReadGCIDE(os.DirFS(filepath.Dir(gcide)), filepath.Base(gcide))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for name, entries := range map[string][]dict.Entry{"wordnet.jsonl": wn, "gcide.jsonl": gc} {
		var buf bytes.Buffer
		if err := dict.WriteJSONL(&buf, entries); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, name), buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: %d entries\n", filepath.Join(out, name), len(entries))
	}
	return nil
}
