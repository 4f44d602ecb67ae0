// go-sort-golden prints Go's sort.Slice permutation of generated float keys (NaN among them),
// one case per line: pattern, length, seed, modulus, NaN rate, then the sorted indexes. Its output
// is crates/cel-k8s/src/libs/testdata/go-sort-slice.txt, the golden file of the Rust port
// (crates/cel-k8s/src/libs/gosort.rs):
//
//	cd integration/kube && go run ./cmd/go-sort-golden > ../../crates/cel-k8s/src/libs/testdata/go-sort-slice.txt
package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// key i of a case: an LCG value reduced modulo m, NaN where the draw says so (nanEvery > 0).
func keys(n int, seed uint64, m uint64, nanEvery uint64) []float64 {
	out := make([]float64, n)
	x := seed
	for i := range out {
		x = x*6364136223846793005 + 1442695040888963407
		v := (x >> 33) % m
		if nanEvery > 0 && (x>>20)%nanEvery == 0 {
			out[i] = math.NaN()
		} else {
			out[i] = float64(v)
		}
	}
	return out
}

func main() {
	type c struct {
		n                 int
		seed, m, nanEvery uint64
		pattern           string
	}
	cases := []c{}
	for _, n := range []int{2, 5, 12, 13, 20, 49, 50, 51, 64, 100, 257, 1000} {
		for _, m := range []uint64{3, 1000000} {
			for _, nan := range []uint64{0, 7} {
				cases = append(cases, c{n, uint64(n)*31 + m, m, nan, "random"})
			}
		}
		cases = append(cases, c{n, 0, 0, 0, "descending"}, c{n, 0, 0, 0, "ascending-ties"}, c{n, 0, 0, 0, "organ"})
	}
	for _, cs := range cases {
		var k []float64
		switch cs.pattern {
		case "random":
			k = keys(cs.n, cs.seed, cs.m, cs.nanEvery)
		case "descending":
			for i := 0; i < cs.n; i++ {
				k = append(k, float64(cs.n-i))
			}
		case "ascending-ties":
			for i := 0; i < cs.n; i++ {
				k = append(k, float64(i/3))
			}
		case "organ":
			for i := 0; i < cs.n; i++ {
				k = append(k, float64(min(i, cs.n-i)))
			}
		}
		idx := make([]int, cs.n)
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(i, j int) bool { return k[idx[i]] < k[idx[j]] })
		s := make([]string, len(idx))
		for i, v := range idx {
			s[i] = fmt.Sprint(v)
		}
		fmt.Printf("%s %d %d %d %d %s\n", cs.pattern, cs.n, cs.seed, cs.m, cs.nanEvery, strings.Join(s, ","))
	}
}
