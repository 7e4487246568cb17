// tests/targets/gospin: a Go program for the unwinder.  Go describes its
// frames in .debug_frame only (no .eh_frame); main.leaf has no frame of
// its own (a frameless leaf), so a frame-pointer walk skips main.middle.
// One goroutine spins in main.leaf <- main.middle <- main.top <- main.main;
// another, locked to its thread, blocks, so that thread waits in futex.
// With -y, main and three goroutines yield at every turn instead (the
// scheduler on g0 much of the time, the main thread's too).  Prints "ready PID"; runs until killed.
package main

import (
	"fmt"
	"os"
	"runtime"
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

// parked holds an OS thread of its own blocked: its M waits in futex.
func parked(ch chan int) {
	runtime.LockOSThread()
	<-ch
}

// yielder gives up its thread at every turn: the scheduler runs on g0,
// reached through runtime.mcall (gospin -y).
func yielder() {
	for {
		runtime.Gosched()
	}
}

func main() {
	go parked(make(chan int))
	if len(os.Args) > 1 && os.Args[1] == "-y" {
		for i := 0; i < 3; i++ {
			go yielder()
		}
		fmt.Printf("ready %d\n", os.Getpid())
		yielder()
	}
	fmt.Printf("ready %d\n", os.Getpid())
	s := 0
	for {
		s += top(1000000)
	}
}
