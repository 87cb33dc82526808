package model

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkCheckpoint: Save into a stream and Load from a stream (a reader that is not a
// bytes.Reader, as an S3 body is) of a 25M-parameter model (d512, 8 layers; 101 MB).
// MB/s is checkpoint bytes per second. Load's B/op about equal to the checkpoint's size means
// the weights are read straight into their own memory, with no buffer of the file beside
// them (measured: 103 MB allocated for the 102 MB file; 353 MB before Load streamed).
func BenchmarkCheckpoint(b *testing.B) {
	m, err := New(Config{VocabSize: ByteVocab, Shape: Shape{DModel: 512, Layers: 8, Heads: 8, Context: 256}, Seed: 1}, NewByteTokenizer())
	if err != nil {
		b.Fatal(err)
	}
	var file bytes.Buffer
	if err := m.Save(&file); err != nil {
		b.Fatal(err)
	}
	size := float64(file.Len())
	b.Run("Save", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if err := m.Save(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(size*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
	})
	b.Run("Load", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := Load(struct{ io.Reader }{bytes.NewReader(file.Bytes())}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(size*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
	})
}
