package runtime

import "syscall"

// setPipeSize makes the pipes made from now on hold size bytes, and empties
// the pool of idle ones; restore undoes it.
func setPipeSize(size int64) (restore func()) {
	drainPipePool := func() {
		pipes.mu.Lock()
		free := pipes.free
		pipes.free = nil
		pipes.mu.Unlock()
		for _, p := range free {
			_ = syscall.Close(p.r)
			_ = syscall.Close(p.w)
		}
	}
	drainPipePool()
	old := pipeCapacity.Swap(size)
	return func() {
		pipeCapacity.Store(old)
		drainPipePool()
	}
}

// pipesTaken counts the pipes handed out so far.
func pipesTaken() uint64 {
	pipes.mu.Lock()
	defer pipes.mu.Unlock()
	return pipes.taken
}
