// tests/targets/gospin: a Go program for the unwinder.  Go describes its
// frames in .debug_frame only (no .eh_frame); main.leaf has no frame of
// its own (a frameless leaf), so a frame-pointer walk skips main.middle.
// One goroutine spins in main.leaf <- main.middle <- main.top <- main.main;
// the runtime's own threads wait in futex and nanosleep.  Prints
// "ready PID"; runs until killed.
package main

import (
	"fmt"
	"os"
)

//go:noinline
func leaf(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i * i % 7
	}
	return s
}

//go:noinline
func middle(n int) int { return leaf(n) + 1 }

//go:noinline
func top(n int) int { return middle(n) + 2 }

func main() {
	fmt.Printf("ready %d\n", os.Getpid())
	s := 0
	for {
		s += top(1000000)
	}
}
