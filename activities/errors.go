package activities

import (
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/space-sft/space/dataset"
	"github.com/space-sft/space/model"
	"github.com/space-sft/space/storage"
)

// Error types of non-retryable failures; the workflow lists the same names.
const (
	ErrInvalidInput = "InvalidInput"
	ErrNonFinite    = "NonFinite"
	ErrIntegrity    = "Integrity"
	// ErrStorageFull: S3 refused writes for lack of space for storage.Config.FullWait (the
	// storage layer retried them with backoff). The workflow pauses the run on it.
	ErrStorageFull = "StorageFull"
)

// Classify marks errors that a retry cannot fix as non-retryable, at the activity boundary:
// bad input (model.InputError, dataset.Error, a missing object), a NaN or Inf in training,
// storage integrity or other permanent errors, and a store that stayed full (StorageFull). Everything else (a network blip, a
// killed worker, bytes changed in transit from an object that a second read found intact:
// storage.IntegrityError.InTransit) is returned as is and retried by Temporal.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var (
		in  *model.InputError
		de  *dataset.Error
		nf  *model.NonFiniteError
		ie  *storage.IntegrityError
		fe  *storage.FullError
		app *temporal.ApplicationError
	)
	switch {
	case errors.As(err, &app):
		return err // already decided
	case errors.As(err, &nf):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrNonFinite, err)
	case errors.As(err, &fe):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrStorageFull, err)
	case errors.As(err, &ie) && ie.InTransit:
		return err // the stored object is intact: the next attempt reads it again
	case errors.As(err, &ie):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrIntegrity, err)
	case errors.As(err, &in), errors.As(err, &de), storage.IsPermanent(err):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidInput, err)
	}
	return err
}

// Invalid is a non-retryable InvalidInput error with a message that says how to fix it.
func Invalid(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, ErrInvalidInput, nil)
}
