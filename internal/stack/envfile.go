package stack

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// EnvFileName is the file, in the data folder, where `devstack up` writes the stack's
// settings as shell exports (source it, or read it with ReadEnvFile).
const EnvFileName = "stack.env"

// WriteEnvFile writes env (KEY=VALUE pairs) as `export KEY=VALUE` lines, mode 0600 (it holds
// the local gateway's dev secret).
func WriteEnvFile(path string, env []string) error {
	var b strings.Builder
	b.WriteString("# Written by `make up` (cmd/devstack). Use: source " + path + "\n")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%s\n", k, strconv.Quote(v))
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadEnvFile reads a file written by WriteEnvFile.
func ReadEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		env[k] = v
	}
	return env, sc.Err()
}

// SortedEnv returns m as sorted KEY=VALUE pairs.
func SortedEnv(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
