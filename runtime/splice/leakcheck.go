package splice

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

// TestingM is what a test binary's TestMain gets (*testing.M).
type TestingM interface{ Run() int }

// LeakCheck wraps m so that the run fails if a pipe is still held once
// every test is done: a spliced payload that nobody released. A package
// whose tests splice passes it to goleak.VerifyTestMain.
func LeakCheck(m TestingM) TestingM { return leakCheck{m} }

type leakCheck struct{ m TestingM }

func (l leakCheck) Run() int {
	code := l.m.Run()
	deadline := time.Now().Add(5 * time.Second)
	for PipesInUse() > 0 && time.Now().Before(deadline) {
		runtime.GC() // a message dropped in a closed mailbox releases its pipe when collected
		time.Sleep(10 * time.Millisecond)
	}
	if n := PipesInUse(); n > 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "%d pipes still held after the tests\n", n)
		return 1
	}
	return code
}
