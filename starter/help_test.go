package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// spaceOut runs the CLI's entry point and returns its exit status and what it printed.
func spaceOut(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	stdout = &buf
	defer func() { stdout = os.Stdout }()
	return space(args), buf.String()
}

// -h exits 0 with the command's summary, usage, an example and its flags in two groups.
func TestHelpEveryCommand(t *testing.T) {
	for name := range commands {
		if helps[name].usage == "" || len(helps[name].examples) == 0 {
			t.Errorf("%s: no usage or example in helps", name)
		}
		args := []string{name, "-h"}
		if helps[name].sub {
			code, out := spaceOut(t, args...)
			if code != 0 || !strings.Contains(out, "examples:") {
				t.Errorf("space %s -h: exit %d\n%s", name, code, out)
			}
			continue
		}
		code, out := spaceOut(t, args...)
		if code != 0 {
			t.Errorf("space %s -h: exit %d", name, code)
		}
		for _, want := range []string{"space " + name + ": " + commands[name].summary, "usage: space " + name, "examples:\n  space " + name, "connection ("} {
			if !strings.Contains(out, want) {
				t.Errorf("space %s -h lacks %q:\n%s", name, want, out)
			}
		}
	}
}

func TestHelpGroupsRunSettingsAndConnection(t *testing.T) {
	code, out := spaceOut(t, "run", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	settings, conn, ok := strings.Cut(out, "\nconnection (")
	if !ok || !strings.Contains(settings, "\nrun settings (override --spec):\n") {
		t.Fatalf("no groups:\n%s", out)
	}
	for _, f := range []string{"--rounds", "--method", "--mu", "--spec", "--wait"} {
		if !strings.Contains(settings, "  "+f+" ") || strings.Contains(conn, "  "+f+" ") {
			t.Errorf("%s should be a run setting", f)
		}
	}
	for _, f := range []string{"--temporal-address", "--namespace", "--tls-cert", "--api-key", "--task-queue", "--profile"} {
		if !strings.Contains(conn, "  "+f+" ") || strings.Contains(settings, "  "+f+" ") {
			t.Errorf("%s should be a connection flag", f)
		}
	}
	if code, out := spaceOut(t, "data", "put", "-h"); code != 0 || !strings.Contains(out, "--s3-bucket") {
		t.Errorf("data put -h: exit %d\n%s", code, out)
	}
}

func TestTopLevelUsageAndVersion(t *testing.T) {
	for _, h := range []string{"-h", "--help", "help"} {
		if code, out := spaceOut(t, h); code != 0 || !strings.Contains(out, "commands:") || !strings.Contains(out, "  setup ") {
			t.Errorf("space %s: exit %d\n%s", h, code, out)
		}
	}
	if code, out := spaceOut(t, "help", "list"); code != 0 || !strings.Contains(out, "usage: space list") {
		t.Errorf("space help list: exit %d\n%s", code, out)
	}
	if code, _ := spaceOut(t); code != 2 {
		t.Errorf("space without a command: exit %d, want 2", code)
	}
	if code, _ := spaceOut(t, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if code, _ := spaceOut(t, "list", "--no-such-flag"); code == 0 {
		t.Error("a bad flag exits 0")
	}
	commit = "0123abcd"
	defer func() { commit = "" }()
	code, out := spaceOut(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "space github.com/space-sft/space ") || !strings.Contains(out, "commit ") {
		t.Errorf("--version: exit %d %q", code, out)
	}
}

func TestListQuery(t *testing.T) {
	for _, c := range []struct {
		f    listFilter
		want string
	}{
		{listFilter{}, "WorkflowType = 'SelfPlay'"},
		{listFilter{method: "SPACE", task: "arith"}, "WorkflowType = 'SelfPlay' AND SpaceMethod = 'space' AND SpaceTask = 'arith'"},
		{listFilter{status: "running"}, "WorkflowType = 'SelfPlay' AND ExecutionStatus = 'Running'"},
		{listFilter{status: "early_stopped", query: "SpaceBestRound > 1"}, "WorkflowType = 'SelfPlay' AND SpaceStatus = 'early_stopped' AND (SpaceBestRound > 1)"},
	} {
		got, err := c.f.visibilityQuery()
		if err != nil || got != c.want {
			t.Errorf("%+v: %q %v, want %q", c.f, got, err, c.want)
		}
	}
	for _, bad := range []listFilter{{status: "done"}, {method: "x' OR 1=1"}} {
		if _, err := bad.visibilityQuery(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
