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
)

// cmdData moves a user's datasets into and out of the run's S3 bucket:
//
//	space data put FILE [KEY]   check FILE as a dataset of pairs, then upload it (sha256 recorded);
//	                            KEY defaults to data/<file name>
//	space data ls [PREFIX]      list objects (default prefix data/)
//	space data get KEY FILE     download an object, sha256 verified
func cmdData(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("want a subcommand: put FILE [KEY], ls [PREFIX] or get KEY FILE")
	}
	fs := flag.NewFlagSet("data "+args[0], flag.ContinueOnError)
	s3 := storage.ConfigFromEnv()
	fs.StringVar(&s3.Endpoint, "s3-endpoint", s3.Endpoint, "S3 endpoint URL (S3_ENDPOINT)")
	fs.StringVar(&s3.Bucket, "s3-bucket", s3.Bucket, "bucket (S3_BUCKET)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	store := func() (*storage.Store, error) { return storage.New(ctx, s3) }
	switch args[0] {
	case "put":
		if len(pos) < 1 || len(pos) > 2 {
			return fmt.Errorf("usage: space data put FILE [KEY]")
		}
		b, err := os.ReadFile(pos[0])
		if err != nil {
			return err
		}
		pairs, err := dataset.Parse(bytes.NewReader(b), pos[0]) // the run would refuse it: say so now
		if err != nil {
			return fmt.Errorf("%w (nothing was uploaded)", err)
		}
		key := "data/" + filepath.Base(pos[0])
		if len(pos) == 2 {
			key = pos[1]
		}
		st, err := store()
		if err != nil {
			return err
		}
		obj, err := st.Put(ctx, key, b)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "uploaded %s: %d pairs, %d bytes\n  key    %s\n  sha256 %s\nuse it with --data %s (or \"data\": %q in a spec)\n", pos[0], len(pairs), obj.Size, obj.Key, obj.SHA256, obj.Key, obj.Key)
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
