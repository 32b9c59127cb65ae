package server

import (
	"runtime"
	"sync"
)

// onWorker runs f, the CPU-bound part of an admission (decode, plan, patch, encode), on one of
// a few long-lived goroutines and waits for it. HTTP/2 serves each request on a new goroutine
// whose small stack was grown, by copying, several times per admission (6% of the webhook's
// CPU); a worker's stack grows once. Reading the body and writing the answer stay on the
// request's goroutine, so a slow client never holds a worker. A panic in f is raised again on
// the caller's goroutine, where recoverPanics answers it.
func onWorker(f func()) {
	startWorkers.Do(func() {
		for range workerCount() {
			go func() {
				for j := range jobs {
					j()
				}
			}()
		}
	})
	done := make(chan any, 1)
	jobs <- func() {
		defer func() { done <- recover() }()
		f()
	}
	if p := <-done; p != nil {
		panic(p)
	}
}

// workerCount is GOMAXPROCS, but at least a few, so one huge pod does not hold up every other
// admission on a replica limited to one CPU.
func workerCount() int { return max(runtime.GOMAXPROCS(0), 4) }

var (
	jobs         = make(chan func())
	startWorkers sync.Once
)
