package dict

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strings"
)

// ReadGCIDE reads a dictd database (NAME.index and NAME.dict.dz, or an uncompressed
// NAME.dict) of GCIDE from fsys into entries sorted by word and part of speech: every
// indexed block is parsed by ParseGCIDEEntry, and the blocks of one word and part of speech
// are merged, their senses in file order.
func ReadGCIDE(fsys fs.FS, name string) ([]Entry, error) {
	blocks, err := readDictd(fsys, name)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, b := range blocks {
		if e, ok := ParseGCIDEEntry(b.text); ok {
			out = append(out, e)
		}
	}
	return sortEntries(out), nil
}

// dictdBlock is one indexed block of a dictd database.
type dictdBlock struct {
	headword   string
	off, size  int64
	text       string
	indexLines []string
}

// readDictd reads a dictd index (lines "headword TAB offset TAB length", numbers in base 64
// with the alphabet A-Z a-z 0-9 + /) and the blocks it points to, each block once, in the
// order of their offsets. The database's own entries (00-database-...) are left out.
func readDictd(fsys fs.FS, name string) ([]dictdBlock, error) {
	fix := "(fix: install it with `apt-get install dict-gcide`, or run `make wordnet-data`)"
	index, err := fs.ReadFile(fsys, name+".index")
	if err != nil {
		return nil, fmt.Errorf("gcide: %w %s", err, fix)
	}
	body, err := readDict(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("gcide: %w %s", err, fix)
	}
	var out []dictdBlock
	at := map[int64]int{}
	for n, line := range strings.Split(strings.TrimRight(string(index), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("gcide %s.index line %d: %d tab-separated fields, want 3", name, n+1, len(f))
		}
		off, err1 := dictdNumber(f[1])
		size, err2 := dictdNumber(f[2])
		if err1 != nil || err2 != nil || off+size > int64(len(body)) {
			return nil, fmt.Errorf("gcide %s.index line %d: bad offset or length %q %q (the dictionary has %d bytes)", name, n+1, f[1], f[2], len(body))
		}
		if strings.HasPrefix(f[0], "00-database") || strings.HasPrefix(f[0], "00database") {
			continue
		}
		if i, ok := at[off]; ok {
			out[i].indexLines = append(out[i].indexLines, line)
			continue
		}
		at[off] = len(out)
		out = append(out, dictdBlock{headword: f[0], off: off, size: size, text: string(body[off : off+size]), indexLines: []string{line}})
	}
	return out, nil
}

// readDict reads NAME.dict.dz (dictzip: a gzip file that gzip reads whole) or NAME.dict.
func readDict(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name + ".dict.dz")
	if err != nil {
		return fs.ReadFile(fsys, name+".dict")
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s.dict.dz: %w", name, err)
	}
	return io.ReadAll(z)
}

const dictdDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// dictdNumber decodes dictd's base-64 numbers (most significant digit first).
func dictdNumber(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty number")
	}
	var n int64
	for _, c := range []byte(s) {
		d := strings.IndexByte(dictdDigits, c)
		if d < 0 {
			return 0, fmt.Errorf("%q is not a dictd number", s)
		}
		n = n*64 + int64(d)
	}
	return n, nil
}

// dictdString encodes n as dictd writes numbers.
func dictdString(n int64) string {
	if n == 0 {
		return "A"
	}
	var b []byte
	for ; n > 0; n /= 64 {
		b = append([]byte{dictdDigits[n%64]}, b...)
	}
	return string(b)
}

var (
	// gcideHeader: the headword, its spellings in backslashes ("Color \Col"or\, Colour
	// \Col"our\"), an optional pronunciation in parentheses, and the part of speech.
	gcideHeader = regexp.MustCompile(`^([A-Za-z][A-Za-z' -]*?) \\[^\\\n]*\\(?:,? ?[^\\\n,]*\\[^\\\n]*\\)*(?: ?\([^)\n]*\))?,? (n|v\. t|v\. i|v|a|adv)\.(?:[ ,;\n]|$)`)
	gcideSense  = regexp.MustCompile(`^\s*(\d+)\.\s+(.*)$`)
	gcideSource = regexp.MustCompile(`^\s*\[[^\]]*\]\s*$`)        // [1913 Webster]
	gcideLabel  = regexp.MustCompile(`^\([^)]*\)\s*`)             // (Zool.)
	gcideNote   = regexp.MustCompile(`\s*\[(?:[A-Z][^\]]*)\]\s*`) // [Obs.] [Local, U.S.]
	gcideCuts   = []string{" --", "; as,", ", as,", " -- ", `"`, "; -- "}
	gcidePOS    = map[string]string{"n": Noun, "v. t": Verb, "v. i": Verb, "v": Verb, "a": Adjective, "adv": Adverb}
)

// ParseGCIDEEntry reads one GCIDE block of dictd's text rendering:
//
//	Bank \Bank\ (b[a^][ng]k), n. [OE. banke; ... See {Bench}.]
//	   1. A mound, pile, or ridge of earth, raised above the
//	      surrounding level; ...; as, a bank of clouds; a bank of snow.
//	      [1913 Webster]
//	   ...
//
// into an entry: the headword in lower case, the part of speech (n., v. t., v. i., v., a.,
// adv.; any other, such as prop. n., is not an entry), and the glosses: each numbered sense,
// or the first paragraph when none is numbered, cleaned by GCIDEGloss. ok is false when the
// block is not an entry of those parts of speech or no sense survives the cleaning.
func ParseGCIDEEntry(block string) (e Entry, ok bool) {
	m := gcideHeader.FindStringSubmatchIndex(block)
	if m == nil {
		return Entry{}, false
	}
	e.Word = strings.ToLower(block[m[2]:m[3]])
	e.POS = gcidePOS[block[m[4]:m[5]]]
	rest := strings.TrimLeft(block[m[5]+1:], " ,;")
	for _, more := range []string{"& i.", "& t.", "& a.", "pl.", "sing."} { // "v. t. & i.", "adv. & a.", "n. pl."
		rest = strings.TrimLeft(strings.TrimPrefix(rest, more), " ,;")
	}
	if strings.HasPrefix(rest, "[") { // the etymology, brackets nested ([a^] inside)
		depth, i := 0, 0
		for ; i < len(rest); i++ {
			if rest[i] == '[' {
				depth++
			} else if rest[i] == ']' {
				if depth--; depth == 0 {
					break
				}
			}
		}
		rest = rest[min(i+1, len(rest)):]
	}
	var senses []string
	var cur []string
	numbered := false
	flush := func() {
		if len(cur) > 0 {
			senses = append(senses, strings.Join(cur, " "))
		}
		cur = nil
	}
	for _, line := range strings.Split(rest, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case gcideSense.MatchString(line):
			if !numbered { // text before sense 1 (a wrapped header) is no sense
				cur, senses = nil, nil
			}
			flush()
			numbered = true
			cur = []string{gcideSense.FindStringSubmatch(line)[2]}
		case t == "" || gcideSource.MatchString(line):
			flush()
			if !numbered && len(senses) > 0 { // an unnumbered entry: its first paragraph
				return finishGCIDE(e, senses[:1])
			}
		case cur != nil || (!numbered && len(senses) == 0):
			cur = append(cur, t)
		}
	}
	flush()
	if !numbered && len(senses) > 1 {
		senses = senses[:1]
	}
	return finishGCIDE(e, senses)
}

func finishGCIDE(e Entry, senses []string) (Entry, bool) {
	for _, s := range senses {
		if g := GCIDEGloss(s); g != "" {
			e.Glosses = appendNew(e.Glosses, g)
		}
	}
	return e, len(e.Glosses) > 0 && e.Word != ""
}

// GCIDEGloss cleans the text of one GCIDE sense into a gloss in WordNet's style, or ""
// when it does not read as plain text:
//   - a sense with lettered sub-senses ("(a) ...") is dropped;
//   - leading usage labels ("(Zool.)") and notes in brackets ("[Obs.]") go;
//   - the text is cut at the first citation (" --Shak."), example ("; as, a bank of
//     snow"), usage note ("; -- said of") or quotation mark;
//   - cross-reference braces go ("{Bench}" -> "Bench");
//   - what is left must be printable ASCII without GCIDE's character markup ("[a^]", "\"),
//     and not a bare cross-reference ("See Charge, n., 17", "Same as blitz chess");
//   - the trailing period goes and the first letter is lower-cased unless the second is a
//     capital too (WordNet's glosses start in lower case and end without a period).
func GCIDEGloss(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if strings.Contains(s, "(a)") {
		return ""
	}
	for {
		t := gcideLabel.ReplaceAllString(s, "")
		if t == s {
			break
		}
		s = t
	}
	s = gcideNote.ReplaceAllString(s, " ")
	for _, c := range gcideCuts {
		if i := strings.Index(s, c); i >= 0 {
			s = s[:i]
		}
	}
	s = strings.NewReplacer("{", "", "}", "").Replace(s)
	s = strings.TrimRight(strings.TrimSpace(s), " .;,:")
	if s == "" || strings.ContainsAny(s, "[]\\*`|") || strings.HasPrefix(s, "See ") || strings.HasPrefix(s, "Same as ") {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return ""
		}
	}
	if len(s) > 1 && s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z') && s[1] != '.' {
		s = string(s[0]+'a'-'A') + s[1:]
	}
	return s
}

// GCIDEExcerpt copies the blocks of a dictd database whose headword (lower-cased) keep
// accepts, verbatim, with the database's own information entries (00-database-...), into
// a new uncompressed database: NAME.index (offsets recomputed) and NAME.dict. ReadGCIDE
// reads it as it reads the whole.
func GCIDEExcerpt(fsys fs.FS, name string, keep func(word string) bool) (index, body []byte, err error) {
	raw, err := fs.ReadFile(fsys, name+".index")
	if err != nil {
		return nil, nil, fmt.Errorf("gcide: %w", err)
	}
	all, err := readDict(fsys, name)
	if err != nil {
		return nil, nil, fmt.Errorf("gcide: %w", err)
	}
	var ix, dict bytes.Buffer
	add := func(lines []string, text string) {
		off := int64(dict.Len())
		dict.WriteString(text)
		for _, l := range lines {
			f := strings.Split(l, "\t")
			fmt.Fprintf(&ix, "%s\t%s\t%s\n", f[0], dictdString(off), dictdString(int64(len(text))))
		}
	}
	for _, line := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
		if f := strings.Split(line, "\t"); len(f) == 3 && strings.HasPrefix(f[0], "00-database") {
			off, _ := dictdNumber(f[1])
			size, _ := dictdNumber(f[2])
			if off+size <= int64(len(all)) {
				add([]string{line}, string(all[off:off+size]))
			}
		}
	}
	blocks, err := readDictd(fsys, name)
	if err != nil {
		return nil, nil, err
	}
	for _, b := range blocks {
		if keep(strings.ToLower(b.headword)) {
			add(b.indexLines, b.text)
		}
	}
	return ix.Bytes(), dict.Bytes(), nil
}
