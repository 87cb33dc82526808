package activities

import (
	"context"
	"errors"
)

var errTODO = errors.New("not implemented yet")

type Metrics struct{}

func (a *Activities) Prepare(ctx context.Context, in PrepareInput) (PrepareOutput, error) {
	return PrepareOutput{}, errTODO
}
func (a *Activities) TrainBase(ctx context.Context, in BaseInput) (TrainOutput, error) {
	return TrainOutput{}, errTODO
}
func (a *Activities) Generate(ctx context.Context, in GenerateInput) (GenerateOutput, error) {
	return GenerateOutput{}, errTODO
}
func (a *Activities) Train(ctx context.Context, in TrainInput) (TrainOutput, error) {
	return TrainOutput{}, errTODO
}
func (a *Activities) Evaluate(ctx context.Context, in EvaluateInput) (EvaluateOutput, error) {
	return EvaluateOutput{}, errTODO
}
func (a *Activities) CommitRound(ctx context.Context, in CommitInput) (Checkpoint, error) {
	return Checkpoint{}, errTODO
}
func (a *Activities) Report(ctx context.Context, in ReportInput) (Checkpoint, error) {
	return Checkpoint{}, errTODO
}
