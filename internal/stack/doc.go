// Package stack starts and stops the local default stack of SPACE: the Temporal dev server
// (bin/temporal, SQLite file under Dir) and the versitygw S3 gateway (bin/versitygw, objects
// under Dir/s3), both built by `make tools` from the tools/ modules.
//
// Each server is a child process in its own process group, logging to Dir/temporal.log and
// Dir/versitygw.log. Start waits until both answer (Temporal: the frontend's gRPC health
// check; versitygw: GET /health), then creates the bucket. Ports 0 pick free ports, which is
// what tests do. StopTemporal/StartTemporal and StopS3/StartS3 restart one server on the same
// ports and data, for chaos tests: workflows and objects survive.
//
// The S3 credentials are fixed development values (DevAccessKey, DevSecretKey): the gateway
// listens on 127.0.0.1 only and holds nothing but local run data. They are passed to versitygw
// through its environment, never on the command line.
//
// cmd/devstack is the command behind `make up` and `make down`: it starts the stack detached,
// writes Dir/stack.env (TEMPORAL_ADDRESS, S3_ENDPOINT, S3_BUCKET, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, pids) and exits; `down` stops the processes named there.
package stack
