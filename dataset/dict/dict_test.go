package dict

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

// find is the entry of word and pos, or the zero Entry.
func find(entries []Entry, word, pos string) Entry {
	for _, e := range entries {
		if e.Word == word && e.POS == pos {
			return e
		}
	}
	return Entry{}
}

// TestWordNetExcerpt parses the committed excerpt of WordNet 3.0 (testdata/wordnet, verbatim
// lines of the Debian package wordnet-base) and checks real entries.
func TestWordNetExcerpt(t *testing.T) {
	entries, err := ReadWordNet(os.DirFS("testdata/wordnet"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Entry{
		// index.verb lists synset 01978718 before 01978594 (sense order), data.verb the
		// other way round; the quoted examples ("Misfortune lighted upon him") go.
		{Word: "alight", POS: Verb, Glosses: []string{"to come to rest, settle", "come down"}},
		{Word: "alight", POS: Adjective, Glosses: []string{"lighted up by or as by fire or flame"}},
		{Word: "blackout", POS: Noun, Glosses: []string{"a suspension of radio or tv broadcasting",
			"darkness resulting from the extinction of lights (as in a city invisible to enemy aircraft)",
			"the failure of electric power for a general region", "a momentary loss of consciousness",
			"partial or total loss of memory"}},
		{Word: "awry", POS: Adverb, Glosses: []string{"away from the correct or expected course", "turned or twisted to one side"}},
		{Word: "black out", POS: Verb}, // an underscore in the lemma (black_out) is a space
	} {
		got := find(entries, c.Word, c.POS)
		if got.Word == "" || (c.Glosses != nil && !reflect.DeepEqual(got, c)) {
			t.Errorf("%s (%s): got %+v, want %+v", c.Word, c.POS, got, c)
		}
	}
	if len(entries) < 700 {
		t.Fatalf("%d entries in the excerpt", len(entries))
	}
	for i := 1; i < len(entries); i++ {
		a, b := entries[i-1], entries[i]
		if a.Word > b.Word || (a.Word == b.Word && a.POS >= b.POS) {
			t.Fatalf("not sorted or repeated: %+v then %+v", a, b)
		}
	}
	// The task's sample is this excerpt converted (cmd/dictjsonl -sample).
	checkSample(t, entries, "../../tasks/testdata/wordnet/wordnet.jsonl")
}

// TestGCIDEExcerpt parses the committed excerpt of GCIDE (testdata/gcide: blocks of the
// Debian package dict-gcide copied verbatim into a small dictd database) and checks real
// entries.
func TestGCIDEExcerpt(t *testing.T) {
	entries, err := ReadGCIDE(os.DirFS("testdata/gcide"), "gcide")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Entry{
		// three blocks of "Parable", one per part of speech; the etymology, the citation
		// ("--Chaucer") and the example ("; as, the parables of Christ") go.
		{Word: "parable", POS: Noun, Glosses: []string{"a comparison; a similitude; specifically, a short fictitious narrative of something which might really occur in life or nature, by means of which a moral is drawn"}},
		{Word: "parable", POS: Adjective, Glosses: []string{"procurable"}}, // "Procurable. [Obs.] --Sir T. Browne."
		{Word: "parable", POS: Verb, Glosses: []string{"to represent by parable"}},
		// "Unshut \Unshut\ See {shut}." has no part of speech; the v. t. block is the entry
		{Word: "unshut", POS: Verb, Glosses: []string{"to open, or throw open"}},
		// "adv. & a.", two numbered senses
		{Word: "awry", POS: Adverb, Glosses: []string{
			"turned or twisted toward one side; not in a straight or true direction, or position; out of the right course; distorted; obliquely; asquint; with oblique vision",
			"aside from the line of truth, or right reason; unreasonable or unreasonably; perverse or perversely"}},
	} {
		if got := find(entries, c.Word, c.POS); !reflect.DeepEqual(got, c) {
			t.Errorf("%s (%s): got %+v, want %+v", c.Word, c.POS, got, c)
		}
	}
	if len(entries) < 400 {
		t.Fatalf("%d entries in the excerpt", len(entries))
	}
	checkSample(t, entries, "../../tasks/testdata/wordnet/gcide.jsonl")
}

// checkSample asserts that the committed JSONL file holds exactly these entries.
func checkSample(t *testing.T, entries []Entry, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ReadJSONL(f, path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, entries) {
		t.Fatalf("%s is not the conversion of the excerpt (regenerate it with `make wordnet-sample`)", path)
	}
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, entries); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if !bytes.Equal(buf.Bytes(), raw) {
		t.Fatalf("%s: WriteJSONL does not reproduce the file byte for byte", path)
	}
}

func TestParseGCIDEEntry(t *testing.T) {
	// A block of the full dictionary (not in the excerpt): an unnumbered sense after a usage
	// label with GCIDE's character markup, cut at the usage note.
	e, ok := ParseGCIDEEntry("Bank \\Bank\\, v. i. (A[\"e]ronautics)\n" +
		"   To tilt sidewise in rounding a curve; -- said of a flying\n" +
		"   machine, an a[\"e]rocurve, or the like.\n" +
		"   [Webster 1913 Suppl.]\n")
	if want := (Entry{Word: "bank", POS: Verb, Glosses: []string{"to tilt sidewise in rounding a curve"}}); !ok || !reflect.DeepEqual(e, want) {
		t.Fatalf("got %+v %v, want %+v", e, ok, want)
	}
	// A proper noun is no entry.
	if e, ok := ParseGCIDEEntry("Banjul \\Banjul\\ prop. n. (Geography)\n   The capital city of Gambia.\n   [PJC]\n"); ok {
		t.Fatalf("a proper noun became %+v", e)
	}
}

func TestGloss(t *testing.T) {
	for in, want := range map[string]string{
		`sloping land (especially the slope beside a body of water); "they pulled the canoe up on the bank"  `: "sloping land (especially the slope beside a body of water)",
		`(usually followed by 'to') having the necessary means`:                                                "(usually followed by 'to') having the necessary means",
		`"an example only"`: "",
	} {
		if got := Gloss(in); got != want {
			t.Errorf("Gloss(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"(Zool.) The otter. [Local, U.S.]":                      "the otter",
		"To heap or pile up; as, to bank sand.":                 "to heap or pile up",
		"To pass by the banks of. [Obs.] --Shak.":               "to pass by the banks of",
		"(Law) (a) The bench or seat upon which the judges sit": "", // lettered sub-senses
		"The face of the c[oe]l":                                "", // character markup
		"See {shut}.":                                           "", // a bare cross-reference
		"U.S. money":                                            "U.S. money",
	} {
		if got := GCIDEGloss(in); got != want {
			t.Errorf("GCIDEGloss(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDictdNumbers(t *testing.T) {
	for s, n := range map[string]int64{"A": 0, "B": 1, "/": 63, "BA": 64, "KpRV": 10*64*64*64 + 41*64*64 + 17*64 + 21} {
		got, err := dictdNumber(s)
		if err != nil || got != n || dictdString(n) != s {
			t.Errorf("%q: %d %v (want %d), back %q", s, got, err, n, dictdString(n))
		}
	}
	if _, err := dictdNumber("a-b"); err == nil {
		t.Error("a bad number decoded")
	}
	if _, err := ReadJSONL(strings.NewReader("{\"word\":\"a\",\"pos\":\"noun\"}\n"), "x.jsonl"); err == nil || !strings.Contains(err.Error(), "x.jsonl line 1") {
		t.Errorf("an entry without glosses: %v", err)
	}
}
