// Package storage is the S3 layer of SPACE: every artifact of a run (spec, inputs, base model,
// synthetic shards, trainer checkpoints, round models, metrics, manifests, reports) is an object
// in one S3-compatible bucket, under the key layout of keys.go.
//
// A Store wraps aws-sdk-go-v2 with three promises:
//
//   - Integrity. Put computes the SHA-256 of the bytes and stores it as the object's
//     x-amz-meta-sha256 metadata. Get recomputes it and compares with that metadata and, when
//     the caller passes one, with the SHA-256 it expects (taken from a Manifest). Any mismatch
//     is an *IntegrityError: a corrupted or swapped object is never returned as data.
//   - Clear errors. Each error names the key. Wrong credentials, a missing bucket and an
//     unreachable endpoint become *AuthError, *BucketError and *UnreachableError, whose
//     messages say what to check (which env vars, how to create the bucket, "make up").
//     IsPermanent tells an activity which of them a retry cannot fix.
//   - Safe keys. Run and schedule names go through ValidateName and every key through
//     ValidateKey, so nothing a user types can escape its prefix ("..", absolute paths).
//
// Objects above 16 MiB are uploaded in parts through feature/s3/transfermanager.
//
// Readers trust only what a Manifest lists: a step writes its objects, then the manifest
// (keys, sizes and SHA-256s) last; a reader loads the manifest and fetches each object with
// the listed SHA-256 (Store.GetListed). An object that is present but not listed (a crashed
// attempt's leftover) is ignored.
//
// Configuration comes from the environment (ConfigFromEnv): S3_ENDPOINT, S3_REGION or
// AWS_REGION, S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, S3_PATH_STYLE,
// S3_CA_BUNDLE or AWS_CA_BUNDLE, S3_READ_TIMEOUT and S3_FULL_WAIT. `make up` starts a local versitygw and
// writes these to .data/stack.env.
//
// Faults on the way: a connection that carries no byte for Config.ReadTimeout (a minute by
// default) fails with an *IdleTimeoutError, which the SDK and then Temporal retry. A read
// whose bytes fail the SHA-256 check is read once more: when the second read hashes right the
// bytes were changed in transit (Get returns the good bytes; GetStream, whose reader has
// consumed the bad ones, returns an *IntegrityError with InTransit set, which is not
// permanent), and otherwise the stored object itself is wrong (a permanent *IntegrityError).
// A write the gateway refuses for lack of space (507 InsufficientStorage, QuotaExceeded,
// ENOSPC) is retried with backoff (1 s, 2 s, 4 s ... at most 30 s apart) for Config.FullWait
// (S3_FULL_WAIT, two minutes by default), each retry logged; a store that stays full is a
// permanent *FullError naming the endpoint and the bucket.
//
// It knows aws-sdk-go-v2 only: nothing of Temporal, the model or the workflows.
package storage
