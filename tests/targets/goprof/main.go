// tests/targets/goprof: write profiles with Go's own runtime/pprof, for
// cprof report to read.  Usage: goprof DIR
//
//	DIR/goroutine.pb.gz  5 goroutines parked in waitA, 3 in waitB (counts)
//	DIR/heap.pb.gz       allocations by allocA (3/4 of bytes) and allocB
//	DIR/cpu.pb.gz        ~1 s of cpu in spinA (2/3) and spinB (1/3)
package main

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
)

var sink [][]byte

//go:noinline
func waitA(ch chan int, wg *sync.WaitGroup) { wg.Done(); <-ch }

//go:noinline
func waitB(ch chan int, wg *sync.WaitGroup) { wg.Done(); <-ch }

//go:noinline
func allocA() { for i := 0; i < 3000; i++ { sink = append(sink, make([]byte, 4096)) } }

//go:noinline
func allocB() { for i := 0; i < 1000; i++ { sink = append(sink, make([]byte, 4096)) } }

var x uint64

//go:noinline
func spin(n int) { for i := 0; i < n; i++ { x = x*6364136223846793005 + 1442695040888963407 } }

//go:noinline
func spinA() { spin(400000000) }

//go:noinline
func spinB() { spin(200000000) }

func write(dir, name string, fn func(f *os.File) error) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil { panic(err) }
	if err := fn(f); err != nil { panic(err) }
	if err := f.Close(); err != nil { panic(err) }
}

func main() {
	dir := os.Args[1]
	runtime.MemProfileRate = 1
	ch := make(chan int)
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ { wg.Add(1); go waitA(ch, &wg) }
	for i := 0; i < 3; i++ { wg.Add(1); go waitB(ch, &wg) }
	wg.Wait()
	write(dir, "goroutine.pb.gz", func(f *os.File) error { return pprof.Lookup("goroutine").WriteTo(f, 0) })
	allocA()
	allocB()
	runtime.GC()
	write(dir, "heap.pb.gz", func(f *os.File) error { return pprof.Lookup("heap").WriteTo(f, 0) })
	cpu, err := os.Create(filepath.Join(dir, "cpu.pb.gz"))
	if err != nil { panic(err) }
	pprof.StartCPUProfile(cpu)
	spinA()
	spinB()
	pprof.StopCPUProfile()
	cpu.Close()
	close(ch)
}
