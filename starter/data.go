package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/storage"
	"github.com/space-sft/space/workflows"
)

// cmdData moves a user's datasets into and out of the run's S3 bucket:
//
//	space data put FILE [KEY]   check FILE as a dataset of pairs (JSONL or Parquet), then upload
//	                            it (sha256 recorded); KEY defaults to data/<file name>;
//	                            --allow-duplicates accepts duplicate pairs (allow_duplicates)
//	space data ls [PREFIX]      list objects (default prefix data/)
//	space data get KEY FILE     download an object, sha256 verified
func cmdData(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("want a subcommand: put FILE [KEY], ls [PREFIX] or get KEY FILE")
	}
	fs := flag.NewFlagSet("data "+args[0], flag.ContinueOnError)
	s3 := s3Flags(fs, "")
	var opt dataset.Options
	if args[0] == "put" {
		fs.BoolVar(&opt.AllowDuplicates, "allow-duplicates", false, `accept duplicate pairs (a run then needs "allow_duplicates": true)`)
	}
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	store := func() (*storage.Store, error) { return storage.New(ctx, *s3) }
	switch args[0] {
	case "put":
		if len(pos) < 1 || len(pos) > 2 {
			return fmt.Errorf("usage: space data put FILE [KEY]")
		}
		key := dataKey(pos[0])
		if len(pos) == 2 {
			key = pos[1]
		}
		st, err := store()
		if err != nil {
			return err
		}
		obj, err := putDataset(ctx, st, pos[0], key, opt)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "use it with --data %s (or \"data\": %q in a spec)\n", obj.Key, obj.Key)
		return nil
	case "ls":
		prefix := "data/"
		if len(pos) == 1 {
			prefix = pos[0]
		}
		st, err := store()
		if err != nil {
			return err
		}
		objs, err := st.List(ctx, prefix)
		if err != nil {
			return err
		}
		for _, o := range objs {
			fmt.Fprintf(stdout, "%12d  %s\n", o.Size, o.Key)
		}
		return nil
	case "get":
		if len(pos) != 2 {
			return fmt.Errorf("usage: space data get KEY FILE")
		}
		st, err := store()
		if err != nil {
			return err
		}
		b, err := st.Get(ctx, pos[0], "")
		if err != nil {
			return err
		}
		if err := os.WriteFile(pos[1], b, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s -> %s (%d bytes, sha256 %s)\n", pos[0], pos[1], len(b), storage.SHA256Hex(b))
		return nil
	}
	return fmt.Errorf("unknown subcommand %q: want put, ls or get", args[0])
}

// dataKey is where a local dataset file is uploaded: data/<file name>.
func dataKey(path string) string { return "data/" + filepath.Base(path) }

// putDataset checks a local file as a run would read it (so a bad file is refused before
// anything is uploaded), stores it under key with its sha256, and prints what it did.
func putDataset(ctx context.Context, st *storage.Store, path, key string, opt dataset.Options) (storage.Object, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return storage.Object{}, err
	}
	pairs, err := dataset.ParseWith(bytes.NewReader(b), path, opt)
	if err != nil {
		return storage.Object{}, fmt.Errorf("%w (nothing was uploaded)", err)
	}
	obj, err := st.Put(ctx, key, b)
	if err != nil {
		return storage.Object{}, err
	}
	fmt.Fprintf(stdout, "uploaded %s: %d pairs, %d bytes\n  key    %s\n  sha256 %s\n", path, len(pairs), obj.Size, obj.Key, obj.SHA256)
	return obj, nil
}

// uploadLocalData replaces a spec's data and test_data, when one names an existing local
// file rather than an S3 key, with the key it is uploaded to (data/<file name>, as `space
// data put FILE` does). A local file wins over a key of the same name.
func uploadLocalData(ctx context.Context, spec *workflows.RunSpec, s3 storage.Config) error {
	type field struct {
		name string
		val  *string
	}
	var local []field
	for _, f := range []field{{"data", &spec.Data}, {"test_data", &spec.TestData}} {
		if *f.val == "" {
			continue
		}
		if fi, err := os.Stat(*f.val); err == nil && fi.Mode().IsRegular() {
			local = append(local, f)
		}
	}
	if len(local) == 0 {
		return nil
	}
	if len(local) == 2 && dataKey(spec.Data) == dataKey(spec.TestData) {
		return fmt.Errorf("data %s and test_data %s would both be uploaded to %s; rename one, or upload them with `space data put FILE KEY` and give the keys",
			spec.Data, spec.TestData, dataKey(spec.Data))
	}
	st, err := storage.New(ctx, s3)
	if err != nil {
		return err
	}
	for _, f := range local {
		obj, err := putDataset(ctx, st, *f.val, dataKey(*f.val), spec.Options)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		fmt.Fprintf(stdout, "  %s: %s\n", f.name, obj.Key)
		*f.val = obj.Key
	}
	return nil
}
