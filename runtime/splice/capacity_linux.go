package splice

import "syscall"

// SetCapacity makes the pipes made from now on hold size bytes, and
// empties the pool of idle ones; restore undoes it. It is for tests of
// what happens when a pipe takes less than a payload.
func SetCapacity(size int64) (restore func()) {
	drainPool := func() {
		pipes.mu.Lock()
		free := pipes.free
		pipes.free = nil
		pipes.mu.Unlock()
		for _, p := range free {
			_ = syscall.Close(p.r)
			_ = syscall.Close(p.w)
		}
	}
	drainPool()
	old := pipeCapacity.Swap(size)
	return func() {
		pipeCapacity.Store(old)
		drainPool()
	}
}

// PipesTaken counts the pipes handed out so far: a test tells by it that
// a payload was spliced.
func PipesTaken() uint64 {
	pipes.mu.Lock()
	defer pipes.mu.Unlock()
	return pipes.taken
}
