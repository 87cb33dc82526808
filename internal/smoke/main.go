package main

import (
	"fmt"

	_ "github.com/aws/aws-sdk-go-v2/service/s3"
	_ "go.temporal.io/sdk/client"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func main() {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 2), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 2, 3, 4}))))
	y := G.Must(G.Mul(x, x))
	s := G.Must(G.Sum(y))
	G.Grad(s, x)
	m := G.NewTapeMachine(g)
	if err := m.RunAll(); err != nil {
		panic(err)
	}
	gr, _ := x.Grad()
	fmt.Println(s.Value(), gr)
}
