// hfcheck.mjs checks that Hugging Face's tokenizers.js loads the tokenizer.json and
// tokenizer_config.json that Tokenizer.WriteHF writes and encodes (special tokens allowed)
// and decodes exactly as the Go tokenizer does. Not needed by the tests. Run from the
// repository root:
//
//   SPACE_HF_CHECK_DIR=$(mktemp -d) sh -c 'go test ./model -run TestWriteHFForCheck -count=1 && node model/testdata/gpt2tok/hfcheck.mjs "$SPACE_HF_CHECK_DIR"'
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = process.argv[2];
const tmp = mkdtempSync(join(tmpdir(), "hfcheck-"));
let failed = 0;
try {
  execFileSync("npm", ["install", "--prefix", tmp, "--no-audit", "--no-fund", "--silent", "@huggingface/tokenizers@0.2.0"], { stdio: "inherit" });
  const path = createRequire(join(tmp, "package.json")).resolve("@huggingface/tokenizers");
  const mod = await import(path);
  const Tokenizer = mod.Tokenizer ?? mod.default.Tokenizer;
  for (const name of ["gpt2", "tiny"]) {
    const d = join(dir, name);
    const tok = new Tokenizer(JSON.parse(readFileSync(join(d, "tokenizer.json"), "utf8")), JSON.parse(readFileSync(join(d, "tokenizer_config.json"), "utf8")));
    let n = 0, bad = 0;
    for (const line of readFileSync(join(d, "expect.jsonl"), "utf8").split("\n")) {
      if (!line) continue;
      const { text, ids } = JSON.parse(line);
      if (!text) continue; // tokenizers.js does not decode an empty list
      n++;
      const got = tok.encode(text, { add_special_tokens: false }).ids;
      const dec = tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
      if (JSON.stringify(got) !== JSON.stringify(ids) || dec !== text) {
        if (bad++ < 5) console.log(name, JSON.stringify(text), "tokenizers.js", got, JSON.stringify(dec), "Go", ids);
      }
    }
    console.log(`${name}: ${n} texts, ${bad} differ`);
    failed += bad;
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
