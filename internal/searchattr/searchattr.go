// Package searchattr names the Temporal search attributes of a space run, which the Temporal
// UI shows as columns and `space list` filters on, and registers them on a namespace.
//
//	SpaceMethod      Keyword  the run's method: space, spin, sft, sipo, ssimpo, psft
//	SpaceTask        Keyword  the built-in task ("" for a run on the user's data)
//	SpaceStatus      Keyword  how the run ended: completed, stopped, early_stopped ("running" before)
//	SpaceBestRound   Int      the best round so far (0 = the base model)
//	SpaceBestMetric  Double   the best round's ranking metric (task_score on a task, else test_nll)
//
// A custom search attribute must be registered on the namespace before a workflow may set
// it. The local stack (internal/stack) registers them; on another server run `space setup`
// or the `temporal operator search-attribute create` command that Missing's error prints.
package searchattr

import (
	"context"
	"fmt"
	"sort"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/temporal"
)

// The keys, for workflow.UpsertTypedSearchAttributes and StartWorkflowOptions.
var (
	Method     = temporal.NewSearchAttributeKeyKeyword("SpaceMethod")
	Task       = temporal.NewSearchAttributeKeyKeyword("SpaceTask")
	Status     = temporal.NewSearchAttributeKeyKeyword("SpaceStatus")
	BestRound  = temporal.NewSearchAttributeKeyInt64("SpaceBestRound")
	BestMetric = temporal.NewSearchAttributeKeyFloat64("SpaceBestMetric")
)

// StatusRunning is SpaceStatus until the run ends (a failed or terminated run keeps it;
// its Temporal ExecutionStatus says how it ended).
const StatusRunning = "running"

// All maps each attribute's name to its type, as the server registers them.
func All() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		Method.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		Task.GetName():       enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		Status.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		BestRound.GetName():  enumspb.INDEXED_VALUE_TYPE_INT,
		BestMetric.GetName(): enumspb.INDEXED_VALUE_TYPE_DOUBLE,
	}
}

// typeName is the type as the Temporal CLI spells it (Keyword, Int, Double).
func typeName(t enumspb.IndexedValueType) string {
	switch t {
	case enumspb.INDEXED_VALUE_TYPE_KEYWORD:
		return "Keyword"
	case enumspb.INDEXED_VALUE_TYPE_INT:
		return "Int"
	case enumspb.INDEXED_VALUE_TYPE_DOUBLE:
		return "Double"
	}
	return t.String()
}

// DevServerFlags are `temporal server start-dev` flags that register every attribute.
func DevServerFlags() []string {
	var out []string
	for _, n := range names(All()) {
		out = append(out, "--search-attribute", n+"="+typeName(All()[n]))
	}
	return out
}

// CreateCommand is the Temporal CLI command that registers the given attributes (all when
// none are given) on a namespace.
func CreateCommand(namespace string, only ...string) string {
	if len(only) == 0 {
		only = names(All())
	}
	var b strings.Builder
	b.WriteString("temporal operator search-attribute create --namespace " + namespace)
	for _, n := range only {
		fmt.Fprintf(&b, " --name %s --type %s", n, typeName(All()[n]))
	}
	return b.String()
}

// Missing returns the attributes not registered on the namespace, sorted.
func Missing(ctx context.Context, ops operatorservice.OperatorServiceClient, namespace string) ([]string, error) {
	resp, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list search attributes of namespace %s: %w", namespace, err)
	}
	var missing []string
	for n, t := range All() {
		got, ok := resp.GetCustomAttributes()[n]
		if !ok {
			missing = append(missing, n)
			continue
		}
		if got != t {
			return nil, fmt.Errorf("search attribute %s is registered on namespace %s as %s, space needs %s: remove it (temporal operator search-attribute remove --name %s) and run `space setup`",
				n, namespace, typeName(got), typeName(t), n)
		}
	}
	sort.Strings(missing)
	return missing, nil
}

// Ensure registers the attributes the namespace lacks. It needs operator rights on the
// server (a local dev server grants them; Temporal Cloud registers attributes with tcld or
// its web UI, not this API).
func Ensure(ctx context.Context, ops operatorservice.OperatorServiceClient, namespace string) (added []string, err error) {
	missing, err := Missing(ctx, ops, namespace)
	if err != nil || len(missing) == 0 {
		return nil, err
	}
	req := &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: map[string]enumspb.IndexedValueType{}}
	for _, n := range missing {
		req.SearchAttributes[n] = All()[n]
	}
	if _, err := ops.AddSearchAttributes(ctx, req); err != nil {
		return nil, fmt.Errorf("register search attributes %s on namespace %s (or run: %s): %w",
			strings.Join(missing, ", "), namespace, CreateCommand(namespace, missing...), err)
	}
	return missing, nil
}

func names(m map[string]enumspb.IndexedValueType) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
