package model

import (
	"unicode"
	"unicode/utf8"
)

// GPT-2's byte-level pieces: the pre-tokenizer regex and the byte <-> unicode alphabet.
//
// Sources (read to confirm behaviour, not copied): openai/gpt-2 src/encoder.py
// (bytes_to_unicode, the pattern, bpe), huggingface/tokenizers
// tokenizers/src/pre_tokenizers/byte_level.rs (same pattern and alphabet).

// gpt2Pattern is the pre-tokenizer regex of GPT-2 (encoder.py). Go's regexp has no
// lookahead, so splitGPT2 implements it by hand.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// Rune classes of the pattern: \p{L} (unicode.IsLetter), \p{N} (unicode.IsNumber: Nd, Nl,
// No), \s (unicode.IsSpace: the Unicode White_Space property, as in tiktoken's Rust regex
// and Hugging Face's Oniguruma; JavaScript's \s differs on U+0085 and U+FEFF), and the rest.
// A byte that is not valid UTF-8 is "other".
const (
	clsOther = iota
	clsLetter
	clsNumber
	clsSpace
)

func runeClass(r rune, n int) int {
	if r < utf8.RuneSelf {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
			return clsLetter
		case '0' <= r && r <= '9':
			return clsNumber
		case r == ' ', '\t' <= r && r <= '\r':
			return clsSpace
		}
		return clsOther
	}
	if r == utf8.RuneError && n <= 1 {
		return clsOther // an invalid byte
	}
	switch {
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	}
	return clsOther
}

// classAt is the class and width of the rune at s[i:].
func classAt(s string, i int) (int, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return runeClass(rune(c), 1), 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return runeClass(r, n), n
}

// runEnd is the end of the run of class cls that starts at i.
func runEnd(s string, i, cls int) int {
	for i < len(s) {
		c, n := classAt(s, i)
		if c != cls {
			break
		}
		i += n
	}
	return i
}

// nextPiece returns the end of the pre-token that starts at s[i] (i < len(s)), i.e. the
// leftmost-first match of gpt2Pattern at i. Every byte of s belongs to exactly one piece.
func nextPiece(s string, i int) int {
	c0 := s[i]
	// 's|'t|'re|'ve|'m|'ll|'d (case-sensitive: 'S is not a contraction)
	if c0 == '\'' && i+1 < len(s) {
		switch s[i+1] {
		case 's', 't', 'm', 'd':
			return i + 2
		case 'r', 'v', 'l':
			if i+2 < len(s) {
				if w := s[i+1 : i+3]; w == "re" || w == "ve" || w == "ll" {
					return i + 3
				}
			}
		}
	}
	// ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional U+0020, then a run of one class.
	j := i
	if c0 == ' ' {
		j = i + 1
	}
	if j < len(s) {
		if c, _ := classAt(s, j); c != clsSpace {
			return runEnd(s, j, c)
		}
	}
	// Here s[i] is white space (a lone ' ' at the end or before more white space included).
	// `\s+(?!\S)`: the whole run if it ends the text, else the run minus its last rune (which
	// then starts the next piece, e.g. " world"); `\s+` when that would be empty.
	end := runEnd(s, i, clsSpace)
	if end == len(s) {
		return end
	}
	last := end - 1
	for !utf8.RuneStart(s[last]) {
		last--
	}
	if last > i {
		return last
	}
	return end
}

// splitGPT2 calls f with each pre-token of s, in order.
func splitGPT2(s string, f func(piece string)) {
	for i := 0; i < len(s); {
		e := nextPiece(s, i)
		f(s[i:e])
		i = e
	}
}

// byteRune is GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other
// 68 bytes to U+0100.. in byte order. runeByte is its inverse (-1 outside the alphabet).
var byteRune, runeByte = func() (br [256]rune, rb [324]int16) {
	for i := range rb {
		rb[i] = -1
	}
	n := 0
	for b := 0; b < 256; b++ {
		if ('!' <= b && b <= '~') || (0xA1 <= b && b <= 0xAC) || (0xAE <= b && b <= 0xFF) {
			br[b] = rune(b)
		} else {
			br[b] = rune(256 + n)
			n++
		}
		rb[br[b]] = int16(b)
	}
	return
}()

// bytesToToken writes b in the byte-level alphabet (the form of vocab.json and merges.txt).
func bytesToToken(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = byteRune[c]
	}
	return string(r)
}

// tokenToBytes reverses bytesToToken; ok is false if tok has a rune outside the alphabet.
func tokenToBytes(tok string) (b []byte, ok bool) {
	b = make([]byte, 0, len(tok))
	for _, r := range tok {
		if r < 0 || int(r) >= len(runeByte) || runeByte[r] < 0 {
			return nil, false
		}
		b = append(b, byte(runeByte[r]))
	}
	return b, true
}
