package searchattr

import (
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	got := CreateCommand("default")
	for _, want := range []string{"--namespace default", "--name SpaceMethod --type Keyword", "--name SpaceBestRound --type Int", "--name SpaceBestMetric --type Double"} {
		if !strings.Contains(got, want) {
			t.Errorf("CreateCommand = %q, lacks %q", got, want)
		}
	}
	flags := strings.Join(DevServerFlags(), " ")
	if !strings.Contains(flags, "--search-attribute SpaceStatus=Keyword") || strings.Count(flags, "--search-attribute") != len(All()) {
		t.Errorf("DevServerFlags = %q", flags)
	}
}
