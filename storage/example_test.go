package storage_test

import (
	"fmt"

	"github.com/space-sft/space/storage"
)

// The key layout: validate a user's run name once, then build keys from it.
func Example_keys() {
	run := "arith-spin"
	if err := storage.ValidateName(run); err != nil {
		panic(err)
	}
	fmt.Println(storage.SpecKey(run))
	fmt.Println(storage.ShardKey(run, 1, 3))
	fmt.Println(storage.TrainCkptKey(run, 1, 250))
	fmt.Println(storage.RoundManifestKey(run, 1))
	fmt.Println(storage.ValidateName("../other-run") != nil)
	// Output:
	// runs/arith-spin/spec.json
	// runs/arith-spin/rounds/001/synthetic/shard-003.json
	// runs/arith-spin/rounds/001/train/step-0000250.safetensors
	// runs/arith-spin/rounds/001/manifest.json
	// true
}
