package stack

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ModuleRoot returns the nearest folder at or above the working directory holding a go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or above")
		}
		dir = parent
	}
}

// FindBin locates the tool binary name ("temporal", "versitygw"): in $SPACE_BIN_DIR if set,
// else in bin/ under the module root (the folder `make tools` fills), else on $PATH.
func FindBin(name string) (string, error) {
	var tried []string
	try := func(dir string) (string, bool) {
		p := filepath.Join(dir, name)
		tried = append(tried, p)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, true
		}
		return "", false
	}
	if dir := os.Getenv("SPACE_BIN_DIR"); dir != "" {
		if p, ok := try(dir); ok {
			return p, nil
		}
	}
	if root, err := ModuleRoot(); err == nil {
		if p, ok := try(filepath.Join(root, "bin")); ok {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found (looked in %v and $PATH): run `make tools` in the repository root to build it", name, tried)
}
