package model

type graphKey struct{ B, T int }

type fwdGraph struct{}
