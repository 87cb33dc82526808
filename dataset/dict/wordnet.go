package dict

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// wordnetPOS maps the suffix of WordNet's files to the part of speech a prompt names.
var wordnetPOS = []struct{ file, pos string }{
	{"noun", Noun}, {"verb", Verb}, {"adj", Adjective}, {"adv", Adverb},
}

// ReadWordNet reads WordNet 3.0's index.POS and data.POS files (noun, verb, adj, adv) from
// fsys (os.DirFS("/usr/share/wordnet")) into entries sorted by word and part of speech: for
// each lemma its synsets' glosses in the index's sense order, most frequent sense first.
// Adjective satellites are adjectives.
func ReadWordNet(fsys fs.FS) ([]Entry, error) {
	var out []Entry
	for _, p := range wordnetPOS {
		glosses, err := readWordNetData(fsys, "data."+p.file)
		if err != nil {
			return nil, err
		}
		err = eachWordNetLine(fsys, "index."+p.file, func(n int, line string) error {
			lemma, offsets, err := parseWordNetIndex(line)
			if err != nil {
				return fmt.Errorf("index.%s line %d: %w", p.file, n, err)
			}
			e := Entry{Word: strings.ReplaceAll(lemma, "_", " "), POS: p.pos}
			for _, off := range offsets {
				g, ok := glosses[off]
				if !ok {
					return fmt.Errorf("index.%s line %d: synset %s of %q is not in data.%s", p.file, n, off, lemma, p.file)
				}
				if g != "" {
					e.Glosses = appendNew(e.Glosses, g)
				}
			}
			if len(e.Glosses) > 0 {
				out = append(out, e)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return sortEntries(out), nil
}

// eachWordNetLine calls fn with every line of a WordNet file but the license header (the
// lines that start with a space).
func eachWordNetLine(fsys fs.FS, name string, fn func(n int, line string) error) error {
	f, err := fsys.Open(name)
	if err != nil {
		return fmt.Errorf("wordnet: %w (fix: install it with `apt-get install wordnet-base`, or run `make wordnet-data`)", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || line[0] == ' ' {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("wordnet %s: %w", name, err)
	}
	return nil
}

// parseWordNetIndex reads one index.POS line (wndb(5WN)):
//
//	lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...
func parseWordNetIndex(line string) (lemma string, offsets []string, err error) {
	f := strings.Fields(line)
	if len(f) < 6 {
		return "", nil, fmt.Errorf("%d fields, an index line has at least 6", len(f))
	}
	nsyn, err1 := strconv.Atoi(f[2])
	nptr, err2 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil || nsyn < 1 || len(f) != 6+nptr+nsyn {
		return "", nil, fmt.Errorf("malformed counts in %.60q", line)
	}
	return f[0], f[6+nptr:], nil
}

// readWordNetData maps each synset offset of a data.POS file to its gloss (Gloss).
func readWordNetData(fsys fs.FS, name string) (map[string]string, error) {
	out := map[string]string{}
	err := eachWordNetLine(fsys, name, func(n int, line string) error {
		off, _, ok := strings.Cut(line, " ")
		_, gloss, hasGloss := strings.Cut(line, " | ")
		if !ok || len(off) != 8 {
			return fmt.Errorf("%s line %d: no synset offset in %.40q", name, n, line)
		}
		if hasGloss {
			out[off] = Gloss(gloss)
		} else {
			out[off] = ""
		}
		return nil
	})
	return out, err
}

// Gloss is the definition of a WordNet gloss: the text before its first quoted example
// (`; "`), trimmed of spaces and of a trailing semicolon.
//
//	sloping land (especially the slope beside a body of water); "they pulled the canoe up"
//	-> sloping land (especially the slope beside a body of water)
func Gloss(g string) string {
	if i := strings.Index(g, `; "`); i >= 0 {
		g = g[:i]
	}
	if strings.HasPrefix(strings.TrimSpace(g), `"`) { // only examples
		return ""
	}
	return strings.TrimRight(strings.TrimSpace(g), "; ")
}

// WordNetExcerpt copies the lines of WordNet's files that belong to the lemmas keep accepts:
// their index lines and the data lines of their synsets, verbatim, with each file's license
// header; ReadWordNet reads the result as it reads the whole (the data lines are found by
// their offset field, not by seeking). It returns the excerpt's files by name.
func WordNetExcerpt(fsys fs.FS, keep func(word string) bool) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, p := range wordnetPOS {
		want := map[string]bool{}
		var index, data bytes.Buffer
		for _, file := range []struct {
			name string
			buf  *bytes.Buffer
		}{{"index." + p.file, &index}, {"data." + p.file, &data}} {
			raw, err := fs.ReadFile(fsys, file.name)
			if err != nil {
				return nil, fmt.Errorf("wordnet: %w", err)
			}
			for _, line := range strings.SplitAfter(string(raw), "\n") {
				switch {
				case line == "":
				case line[0] == ' ': // license header
					file.buf.WriteString(line)
				case file.buf == &index:
					lemma, offsets, err := parseWordNetIndex(line)
					if err != nil || !keep(strings.ReplaceAll(lemma, "_", " ")) {
						continue
					}
					for _, o := range offsets {
						want[o] = true
					}
					file.buf.WriteString(line)
				case want[line[:min(8, len(line))]]:
					file.buf.WriteString(line)
				}
			}
		}
		out["index."+p.file], out["data."+p.file] = index.Bytes(), data.Bytes()
	}
	return out, nil
}
