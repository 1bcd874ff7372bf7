// Package depcheck holds the dependency guard: the test in this folder fails
// when a product package imports the test bed (internal/testbed/...), as
// go-containerregistry's depcheck keeps its core packages' imports small.
// It has no code of its own.
package depcheck
